"""Hostile queries: whatever the text, parsing ends in a tree or a QuerySyntaxError with a
short message, never RecursionError or MemoryError; `check` and `match` turn it into
`file:line` (or `query:`) messages and exit 2."""

from __future__ import annotations

import pytest

from newsletter.cli import main
from newsletter.match import Matcher, QuerySyntaxError, parse
from newsletter.match.parser import MAX_DEPTH, MAX_LENGTH
from newsletter.records import Topic
from tests.conftest import NOW, SUBSCRIBERS_YAML, Project

HOSTILE = {
    "title: x5000": ("title:" * 5000, "more than 10,000"),
    "title: x1600 (under the length cap)": ("title:" * 1600, "cannot be nested"),
    "title:( x1400": ("title:(" * 1400, "cannot be nested"),
    "9,000 open parentheses": ("(" * 9000, f"nested more than {MAX_DEPTH}"),
    "balanced parentheses 4,000 deep": ("(" * 4000 + "a" + ")" * 4000, f"more than {MAX_DEPTH}"),
    "9,000 minus signs": ("-" * 9000 + "a", f"nested more than {MAX_DEPTH}"),
    "2,000 NOTs": ("NOT " * 2000 + "a", f"nested more than {MAX_DEPTH}"),
    "100 KB of words": ("word " * 20_000, "more than 10,000"),
    "one character too many": ("x" * (MAX_LENGTH + 1), "10,001 characters"),
    "NUL byte": ("speech\x00synthesis", "control character, U+0000"),
    "NUL bytes only": ("\x00" * 5000, "control character, U+0000"),
    "terminal escape": ("speech \x1b[2J", "control character, U+001B"),
    "lone surrogate (undecodable argv byte)": ("speech \udcff", "lone surrogate"),
    "9,999 quotes": ('"' * 9999, "quote"),
    "9,999 colons": (":" * 9999, "no letters or digits"),
    "a long unknown field": ("x" * 5000 + ":y", "unknown field"),
}


@pytest.mark.parametrize(("query", "fragment"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_query_is_a_short_syntax_error(query: str, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    error = info.value
    assert fragment in error.message
    assert len(str(error)) < 300  # a word of the query is never echoed in full
    line, caret = error.caret().split("\n")
    assert len(line) < 100 and caret.endswith("^")
    assert all(ch == "\t" or ch.isprintable() for ch in line + caret)


def test_the_caret_of_a_long_line_shows_the_part_around_the_column() -> None:
    query = "speech " * 200 + "OR"
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    line, caret = info.value.caret().split("\n")
    assert line == "…" + query[-60:]
    assert caret == " " * len(line) + "^"  # just past the end, where the word is missing


def test_the_caret_under_a_control_character_shows_a_replacement() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("speech\x00x")
    assert info.value.caret() == "speech\ufffdx\n      ^"


def test_the_longest_allowed_query_parses_and_matches() -> None:
    words = [f"w{i}" for i in range(2000)]
    query = " OR ".join(words)
    while len(query) > MAX_LENGTH:
        words.pop()
        query = " OR ".join(words)
    query += " OR speech"[: MAX_LENGTH - len(query)]
    assert len(query) <= MAX_LENGTH
    parse(query)
    from datetime import UTC, datetime

    from newsletter.records import Entry

    doc = Entry(
        key="e", title="w7 and speech", link="x", published=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert "t" in Matcher([Topic(id="t", title="t", query=query)]).match([doc])["e"]


def _topic_line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


CHECK_CASES = {
    "deep parentheses": "(" * 200 + "speech" + ")" * 200,
    "NUL byte": "speech\\0synthesis",
    "repeated field": "title:" * 1600,
    "100 KB of words": "word " * 20_000,
}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("query", CHECK_CASES.values(), ids=CHECK_CASES.keys())
def test_check_reports_a_hostile_query_as_file_line_and_exits_2(
    project: Project, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    original = 'query: self-supervised OR "contrastive learning"'
    subs = SUBSCRIBERS_YAML.replace(original, f'query: "{query}"')
    project.write(subscribers=subs)
    code = main(["check", "--config", str(project.config)], clock=lambda: NOW)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    line = _topic_line(subs, 'query: "' + query[:20])
    # Refused either by the config (invisible characters, length) or by the query parser.
    assert f"config/subscribers.yaml:{line}: " in err
    assert any(why in err for why in ("bad topic query:", "U+0000", "at most")), err
    assert len(err) < 1000


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "query",
    ["title:" * 5000, "(" * 500 + "a", "speech\x00synthesis", "speech \udcff"],
    ids=["repeated field", "deep parentheses", "NUL byte", "undecodable byte"],
)
def test_match_reports_a_hostile_query_and_exits_2(
    project: Project, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    code = main(["match", query, "--config", str(project.config)], clock=lambda: NOW)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and "query" in err
    assert len(err) < 1000
    err.encode("utf-8")  # printable: no lone surrogate reaches the terminal
