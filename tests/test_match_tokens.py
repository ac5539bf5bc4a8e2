"""Tokenization: Unicode runs of letters/digits, case folding, plural keys, offsets."""

from __future__ import annotations

import pytest

from newsletter.match import tokenize
from newsletter.match.tokens import stem


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Self-Supervised Learning", ["Self", "Supervised", "Learning"]),
        ("cs.LG, stat.ML", ["cs", "LG", "stat", "ML"]),
        ("GPT-4o: 2x faster!", ["GPT", "4o", "2x", "faster"]),
        ("snake_case words", ["snake", "case", "words"]),
        ("naïve Bayes", ["naïve", "Bayes"]),
        ("cafe\u0301 au lait", ["cafe\u0301", "au", "lait"]),  # combining accent stays in the word
        ("日本語の論文", ["日本語の論文"]),
        ("Ψ-Net and ΑΘΗΝΑ", ["Ψ", "Net", "and", "ΑΘΗΝΑ"]),
        ("  ---  ", []),
        ("", []),
    ],
)
def test_tokens_are_runs_of_letters_and_digits(text: str, words: list[str]) -> None:
    assert [t.text for t in tokenize(text)] == words


def test_offsets_point_into_the_original_text() -> None:
    text = "Ünïcode — «Transformers» in cs.LG"
    for token in tokenize(text):
        assert text[token.start : token.end] == token.text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Transformers", "transformer"),
        ("LLMs", "llm"),
        ("Résumé", "re\u0301sume\u0301".upper()),
        ("STRASSE", "straße"),
    ],
)
def test_case_folded_stems_compare_equal(a: str, b: str) -> None:
    assert stem(a) == stem(b)


def test_different_words_keep_different_stems() -> None:
    assert stem("speech") != stem("speed")
    assert stem("diffusion") != stem("different")
    assert stem("transformer") != stem("transform")
