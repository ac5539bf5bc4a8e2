"""Without the ``semantic`` extra, ``about:`` is a clear error that names the extra.

Runs everywhere: where the extra is installed, one of its modules is hidden.
"""

from __future__ import annotations

import importlib.util

import pytest

from newsletter.match import Matcher
from newsletter.match.semantic import (
    SemanticUnavailableError,
    require_semantic,
    semantic_available,
)
from newsletter.records import Topic


@pytest.fixture
def without_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    if semantic_available():
        real = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a: None if name == "sentence_transformers" else real(name, *a),
        )
    assert not semantic_available()


@pytest.mark.usefixtures("without_extra")
def test_missing_extra_is_a_clear_error_naming_it() -> None:
    with pytest.raises(SemanticUnavailableError, match=r"'semantic' extra.*newsletter\[semantic\]"):
        require_semantic()
    with pytest.raises(SemanticUnavailableError, match="about:"):
        Matcher([Topic(id="t", title="t", about="speech synthesis")])


@pytest.mark.usefixtures("without_extra")
def test_keyword_topics_never_need_the_extra() -> None:
    assert Matcher([Topic(id="t", title="t", query="speech")]).match([]) == {}
