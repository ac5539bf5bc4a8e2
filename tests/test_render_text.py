"""The plain-text twin: 78 columns, whole URLs, numbered papers, underlined headings."""

from __future__ import annotations

import itertools
import re

import test_render_support as support
from hypothesis import given
from hypothesis import strategies as st

from newsletter.records import DigestLinks
from newsletter.render import Renderer
from newsletter.render.textutil import (
    clean,
    clean_keep_edges,
    is_lone_url,
    shorten_authors,
    wrap,
)


def render_text(**kwargs: object) -> str:
    digest = support.digest(**kwargs)  # type: ignore[arg-type]
    return (
        Renderer(support.settings(), verify=False)
        .render(digest, DigestLinks(support.UNSUBSCRIBE, manage_url=support.MANAGE))
        .text
    )


def test_lines_fit_78_columns_except_lone_urls() -> None:
    long_url = "https://example.org/" + "x" * 90
    entry = support.entry(2, link=long_url, title="word " * 40)
    text = render_text(entries=[entry, *support.longest_entries(8)])
    lines = text.splitlines()
    too_long = [line for line in lines if len(line) > 78]
    assert too_long, "the long URL must not be broken"
    assert all(is_lone_url(line) for line in too_long), too_long
    assert any(line.strip() == long_url for line in lines)
    assert all(line == line.rstrip() for line in lines if line != "-- ")


def test_papers_are_numbered_across_sections_and_headings_underlined() -> None:
    text = render_text(count=7)
    numbers = [int(m) for m in re.findall(r"^ *(\d+)\. ", text, re.M)]
    assert numbers == list(range(1, 8))
    lines = text.splitlines()
    for topic in support.TOPIC_WORDS:
        index = next(i for i, line in enumerate(lines) if line.startswith(topic))
        assert set(lines[index + 1]) == {"-"} and len(lines[index + 1]) == len(lines[index])
    assert lines[1] == "=" * len(lines[0])


def test_text_has_the_same_content_as_html() -> None:
    digest = support.digest(6)
    out = Renderer(support.settings(), verify=False).render(
        digest, DigestLinks(support.UNSUBSCRIBE, manage_url=support.MANAGE)
    )
    flat = " ".join(out.text.split())
    for item in digest.items:
        assert " ".join(item.entry.title.split()) in flat
        assert item.entry.link in out.text
    assert "6 new papers for your 3 topics" in out.text
    assert support.UNSUBSCRIBE in out.text and support.MANAGE in out.text
    assert "<" not in out.text  # no markup, no highlight marks
    assert "\n-- \n" in out.text


def test_wrap_never_breaks_words() -> None:
    lines = wrap("a " * 50 + "https://example.org/" + "y" * 80 + " tail", 30, "  ")
    assert max(len(line) for line in lines if "https" not in line) <= 30
    assert any(line.strip().startswith("https://example.org/yyy") for line in lines)


def test_shorten_authors() -> None:
    assert shorten_authors(["A"]) == "A"
    assert shorten_authors(["A", "B"]) == "A and B"
    assert shorten_authors(["A", "B", "C", "D"]) == "A, B, C and D"
    assert shorten_authors(["A", "B", "C", "D", "E"]) == "A, B, C and 2 others"


def test_view_link_first_and_footer_line_last() -> None:
    settings = support.settings(footer="Paper Digest Ltd\n\n1 Example Street, 12345 Town")
    out = Renderer(settings, verify=False).render(support.digest(2), support.ALL_LINKS)
    lines = out.text.splitlines()
    assert lines[0] == f"View in browser: {support.VIEW}" and lines[1] == ""
    assert lines[-2:] == ["Paper Digest Ltd", "1 Example Street, 12345 Town"]
    assert lines[lines.index("Manage your topics:") + 1] == support.MANAGE


@given(st.text(alphabet=" \t\n\x00\x85\xa0ab\u2003é\ufffe", max_size=30))
def test_clean_removes_controls_and_collapses_whitespace(text: str) -> None:
    expected = re.sub(r"\s+", " ", re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe]", "", text))
    assert clean_keep_edges(text) == expected
    assert clean(text) == expected.strip()


@given(
    st.lists(st.text(alphabet="abcdefghij/:.", min_size=1, max_size=30), max_size=20),
    st.integers(10, 80),
    st.sampled_from(["", "  ", "     "]),
)
def test_wrap_is_greedy_and_keeps_every_word(words: list[str], width: int, indent: str) -> None:
    lines = wrap(" ".join(words), width, indent, "-> ")
    assert " ".join(lines).split() == (["->", *words] if words else [])
    assert all(line.startswith(indent) for line in lines[1:])
    for line, following in itertools.pairwise(lines):
        assert len(line) + 1 + len(following.split()[0]) > width, "that word would have fit"
    for n, line in enumerate(lines):  # a line past the width holds one long word
        assert len(line) <= width or len(line.split()) == (2 if n == 0 else 1)
