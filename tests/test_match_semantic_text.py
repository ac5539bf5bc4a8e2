"""The text side of semantic topics: what is embedded and which topic words an entry has.

Pure Python: runs with or without the ``semantic`` extra.
"""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.match.semantic_text import (
    MAX_UNITS,
    split_sentences,
    text_units,
    topic_words,
    word_coverage,
    words,
)
from newsletter.records import Entry


def entry(key: str, title: str, abstract: str = "") -> Entry:
    return Entry(
        key=key,
        title=title,
        link=f"https://example.org/{key}",
        published=datetime(2024, 5, 1, tzinfo=UTC),
        abstract=abstract,
    )


def test_sentences_are_the_title_then_the_abstract_sentences() -> None:
    e = entry("a", "A title", "First one. Second, e.g. this. Third? 4th is short.")
    assert split_sentences(e) == [
        "A title",
        "First one.",
        "Second, e.g. this.",
        "Third?",
        "4th is short.",
    ]


def test_units_are_the_title_then_windows_of_three_sentences() -> None:
    e = entry("a", "A title", "One. Two. Three. Four. Five.")
    assert text_units(e) == ["A title", "One. Two. Three.", "Four. Five."]
    assert text_units(entry("b", "Only a title")) == ["Only a title"]
    assert text_units(entry("c", "", "")) == ["c"]  # nothing to embed but the key


def test_very_long_abstracts_are_capped() -> None:
    e = entry("a", "T", " ".join(f"Sentence number {i}." for i in range(100)))
    units = text_units(e)
    assert len(units) == MAX_UNITS and units[0] == "T"


def test_words_fold_case_and_plurals() -> None:
    assert words("Diffusion Models, Policies and LLMs") == [
        "diffusion",
        "model",
        "policy",
        "and",
        "llm",
    ]
    assert words("class analysis corpus") == ["class", "analysis", "corpus"]  # not plurals


def test_topic_words_drop_filler_and_repeats() -> None:
    assert topic_words("video generation with diffusion models, and video editing") == (
        "video",
        "generation",
        "diffusion",
        "model",
        "editing",
    )
    assert topic_words("of the and") == ()


def test_coverage_counts_title_and_abstract_and_weighs_rare_words_more() -> None:
    docs = [
        entry("both", "Planning autonomous driving", "Planning for autonomous driving."),
        entry("abstract", "A planner", "Planning for autonomous driving."),
        entry("common", "Planning", "Planning and more planning."),
        *(entry(f"x{i}", "Planning study", "Planning methods.") for i in range(8)),
    ]
    (row,) = word_coverage(["planning for autonomous driving"], docs)
    assert row[0] == 1.0  # every word, in title and abstract
    assert 0.4 < row[1] < 0.6  # every word, in the abstract only: half
    # "planning" is in every entry, so it weighs little: an entry with only it scores low
    assert row[2] < 0.1 and row[1] > 5 * row[2]


def test_a_topic_without_content_words_covers_nothing() -> None:
    assert word_coverage(["of the"], [entry("a", "Of the", "the of")]) == [[0.0]]
    assert word_coverage(["speech"], []) == [[]]
