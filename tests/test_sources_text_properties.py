"""Random and hostile text through every cleaning and parsing function.

Whatever comes in — lone surrogates, controls, bidi overrides, broken markup, random
TeX, very long strings — nothing raises, and what comes out has no surrogate, no
control, no bidi or invisible format character (but the joiners, selectors and tags
emoji need), is NFC, and is a fixed point of hygiene. ``assert_clean`` checks this
character by character on its own, without calling the code under test.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.sources import FeedSpec, parse_document, text
from newsletter.sources.authors import people

FLAG = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
PREPENDED_MARKS = frozenset("\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2")
PREPENDED_MARKS |= {"\U000110bd", "\U000110cd"}
NONCHARACTERS = {chr(c) for c in range(0xFDD0, 0xFDF0)} | {
    chr(p * 0x10000 + e) for p in range(17) for e in (0xFFFE, 0xFFFF)
}


def _joinable(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LMN" or category in ("So", "Sk")


def assert_clean(value: str, *, multiline: bool = False, tabs: bool = False) -> None:
    """The promise of hygiene, checked independently of its code."""
    assert unicodedata.is_normalized("NFC", value), ascii(value)
    flags = {i for m in FLAG.finditer(value) for i in range(m.start() + 1, m.end())}
    for i, char in enumerate(value):
        category = unicodedata.category(char)
        assert category not in ("Cs", "Zl", "Zp"), ascii(value)
        assert char not in NONCHARACTERS, ascii(value)
        if category == "Cc":
            assert multiline and (char == "\n" or (tabs and char == "\t")), ascii(value)
        elif category == "Cf":
            if char in "\u200c\u200d":
                assert 0 < i < len(value) - 1, ascii(value)
                assert _joinable(value[i - 1]) and _joinable(value[i + 1]), ascii(value)
            else:
                assert i in flags or char in PREPENDED_MARKS, ascii(value)
        elif "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef":
            assert i > 0 and unicodedata.category(value[i - 1]) not in ("Zs", "Cc", "Cf")
            assert not ("\ufe00" <= value[i - 1] <= "\ufe0f"), ascii(value)


SPECIALS = [
    "\ud800", "\udfff", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\t", "\n", "\r", "\x0b",
    "\u2028", "\u2029", "\u202e", "\u2066", "\u2069", "\u200e", "\u061c", "\u200b", "\u00ad",
    "\ufeff", "\u200c", "\u200d", "\ufe0f", "\U000e0101", "\U000e0041", "\U000e007f",
    "\U0001f3f4", "\U0001f468", "\U0001f3fd", "\u2764", "\u0301", "\u0308", "e", "A", " ",
    "\u00a0", "\u0600", "\ufffe", "\U0010ffff", "\u212b", "\u1100", "\u1161",
]  # fmt: skip
MARKUP = [
    "<p>", "</p>", "<s", "<1", "<b>", "&amp;", "&lt;", "&#x202E;", "&#xD800;", "&#0;", "&#x85;",
    "&notin", "<!--", "-->", "<script>", "<![CDATA[", "<?", "$", "$$", "\\", "{", "}", "%",
    "&", "~", "--", "``", "''", r"\frac{1}{3}", r"\'e", r'\"o', r"\varepsilon", r"\left(",
    r"\begin{x}", r"\end{x}", r"\href{", r"\url{", "^", "_", "https://x.org/a--b", r"\eg",
    r"\textbf{", r"\\", r"\char", "(", ")", ",", " and ",
]  # fmt: skip
chars = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIALS))
hostile = st.one_of(
    st.text(chars, max_size=200),
    st.lists(st.one_of(st.sampled_from(MARKUP), st.text(chars, max_size=8)), max_size=40).map(
        "".join
    ),
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(raw=hostile, multiline=st.booleans())
def test_hygiene_is_clean_and_idempotent(raw: str, multiline: bool) -> None:
    once = text.hygiene(raw, multiline=multiline)
    assert_clean(once, multiline=multiline, tabs=True)
    assert text.hygiene(once, multiline=multiline) == once


@SETTINGS
@given(raw=hostile, html=st.booleans(), tex=st.booleans())
def test_fields_are_clean(raw: str, html: bool, tex: bool) -> None:
    line = text.line(raw, html=html, tex=tex)
    assert_clean(line)
    assert line == line.strip() and "  " not in line and text.hygiene(line) == line
    paragraphs = text.paragraphs(raw, html=html, tex=tex)
    assert_clean(paragraphs, multiline=True)
    assert "\n\n\n" not in paragraphs and text.hygiene(paragraphs, multiline=True) == paragraphs
    link = text.link(raw)
    assert_clean(link)
    assert link == "" or link.lower().startswith(("http://", "https://"))


@SETTINGS
@given(raw=hostile, arxiv=st.booleans(), tex=st.booleans())
def test_people_are_clean_single_lines(raw: str, arxiv: bool, tex: bool) -> None:
    for name in people(raw, arxiv=arxiv, tex=tex):
        assert name and name == name.strip()
        assert_clean(name)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(100_000, 400_000), piece=st.sampled_from(MARKUP + SPECIALS))
def test_very_long_strings(size: int, piece: str) -> None:
    raw = (piece + "x ") * (size // (len(piece) + 2))
    for tex in (False, True):
        assert_clean(text.line(raw, tex=tex))
        assert_clean(text.paragraphs(raw, html=True, tex=tex), multiline=True)


NOW = datetime(2026, 4, 27, tzinfo=UTC)


def _assert_entries_clean(body: bytes, spec_type: str, content_type: str) -> None:
    kinds = ("new", "cross", "replace", "replace-cross")
    spec = FeedSpec("f", "https://x/", spec_type, announce_types=kinds)
    result = parse_document(
        body, content_type=content_type, location="https://x/", spec=spec, now=NOW
    )
    assert result.error is None and len(result.entries) == 1, result
    for entry in result.entries:
        for value in (entry.key, entry.title, entry.link, entry.pdf_link or "",
                      entry.arxiv_id or "", entry.announce_type or ""):  # fmt: skip
            assert_clean(value)
            value.encode("utf-8")
        assert_clean(entry.abstract, multiline=True)
        for value in entry.authors + entry.categories:
            assert_clean(value)


@SETTINGS
@given(title=hostile, summary=hostile, author=hostile, tag=hostile, url=hostile)
def test_json_feed_fields_leave_the_parser_clean(
    title: str, summary: str, author: str, tag: str, url: str
) -> None:
    item = {"id": url, "url": url, "title": title, "content_html": summary,
            "authors": [{"name": author}], "tags": [tag]}  # fmt: skip
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [item]}
    _assert_entries_clean(json.dumps(feed).encode(), "feed", "application/feed+json")
    paper = {"paper": {"id": "2411.17730", "title": title, "summary": summary,
                       "authors": [{"name": author}]}}  # fmt: skip
    _assert_entries_clean(json.dumps([paper]).encode(), "hf-daily-papers", "application/json")


def _xml_text(value: str) -> str:
    """``value`` as XML character data: what XML cannot carry is written as HTML entities
    (escaped once more), the way publishers smuggle it into a description."""
    allowed = (
        c if c in "\t\n" or ("\x20" <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd")
        or c >= "\U00010000" else f"&#x{ord(c):X};"
        for c in value
    )  # fmt: skip
    return escape("".join(allowed))


@SETTINGS
@given(title=hostile, summary=hostile, creator=hostile, link=hostile)
def test_rss_fields_leave_the_parser_clean(
    title: str, summary: str, creator: str, link: str
) -> None:
    arxiv_guid, prefix = "oai:arXiv.org:2411.17730v1", "arXiv:2411.17730v1 Announce Type: new\n"
    for spec_type, guid, before in (
        ("arxiv", arxiv_guid, prefix),  # the 2024 format: plain TeX
        ("arxiv", arxiv_guid, ""),  # the old format: HTML, then TeX
        ("feed", _xml_text(link), ""),
    ):
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0' "
            "xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>t</title><item>"
            f"<title>{_xml_text(title)} (arXiv:2411.17730v2 [cs.CL] UPDATED)</title>"
            f"<link>{_xml_text(link)}</link>"
            f"<description>{before}Abstract: {_xml_text(summary)}</description>"
            f"<guid>{guid}</guid><category>{_xml_text(title)}</category>"
            f"<dc:creator>{_xml_text(creator)}</dc:creator></item></channel></rss>"
        )
        _assert_entries_clean(body.encode(), spec_type, "application/rss+xml")


@pytest.mark.parametrize(
    ("dirty", "multiline"),
    [("a\ud800", False), ("a\x00b", True), ("a\nb", False), ("a\u202eb", False),
     ("a\u200d", False), (" \ufe0f", False), ("e\u0301", False), ("a\u2028b", True),
     ("a\U000e0041", False), ("a\ufffe", False), ("a\tb", True)],
)  # fmt: skip
def test_the_checker_rejects_dirty_text(dirty: str, multiline: bool) -> None:
    with pytest.raises(AssertionError):
        assert_clean(dirty, multiline=multiline)
