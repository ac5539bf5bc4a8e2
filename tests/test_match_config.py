"""The `stemming:` topic key: read from YAML into the topic, a bad value is `file:line`."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.cli import main
from newsletter.config import ConfigError, load_config
from tests.conftest import MAIN_YAML, NOW

SUBSCRIBERS = """\
topics:
  transformers:
    title: Transformers
    query: transformer
    stemming: {library}
  plain:
    title: Plain
    query: transformer
subscribers:
  - email: a@example.org
    topics:
      - transformers
      - plain
      - title: Own
        query: transformer
        stemming: {own}
"""


def write(tmp_path: Path, library: str, own: str) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    main_yaml = tmp_path / "config" / "newsletter.yaml"
    main_yaml.write_text(MAIN_YAML, encoding="utf-8")
    (tmp_path / "config" / "subscribers.yaml").write_text(
        SUBSCRIBERS.format(library=library, own=own), encoding="utf-8"
    )
    return main_yaml


def test_stemming_is_read_into_each_topic(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "snowball", "plural"))
    (subscriber,) = config.subscribers
    assert [t.stemming for t in subscriber.topics] == ["snowball", "plural", "plural"]
    config = load_config(write(tmp_path, "plural", "snowball"))
    assert [t.stemming for t in config.subscribers[0].topics] == ["plural", "plural", "snowball"]


@pytest.mark.parametrize(("library", "own", "line"), [("porter", "plural", 5), ("plural", "1", 16)])
def test_a_bad_stemming_is_a_file_line_error(
    tmp_path: Path, library: str, own: str, line: int
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, library, own))
    (problem,) = [p for p in info.value.problems if "stemming" in p.message]
    assert problem.line == line
    assert "is not a stemming — use plural" in problem.message


def test_check_exits_2_on_a_bad_stemming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "Snowball", "plural")
    assert main(["check", "--config", str(path)], clock=lambda: NOW) == 2
    err = capsys.readouterr().err
    assert "config/subscribers.yaml:5: topics.transformers.stemming: 'Snowball' is not" in err
    assert "Traceback" not in err
