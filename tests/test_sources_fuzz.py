"""Hostile input through the ingest stage: nothing may crash it or hang it.

Random and mutated documents go through ``parse_document`` (in-process, many
examples) and through the worker pool with its wall-clock limit (fewer examples,
the real path a downloaded body takes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter import records
from newsletter.sources import FeedSpec, ParseResult, parse_document
from newsletter.sources.worker import ParseJob, ParserPool

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
DOCS = {p.name: p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.is_file()}
NOW = datetime(2024, 3, 12, tzinfo=UTC)
SPECS = [FeedSpec("f", "https://x/", t) for t in ("feed", "arxiv", "hf-daily-papers")]
SNIPPETS = [
    b"<author>" + b"a" * 4000 + b"</author>",
    b"<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]>",
    b"&b;&b;&b;",
    b"<div>" * 200,
    b"\x00\xff\xfe",
    b"<![CDATA[",
    b"]]>",
    b"&#xD800;",
    b"&#0;",
    b'"published": "not a date"',
    b'{"paper": {"id": 5}}',
    b"<title type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'><b>x</b></div></title>",
    b"<?xml version='1.0' encoding='utf-16'?>",
    b"<link href='javascript:alert(1)'/>",
    "é∑😀".encode(),
]


def check(result: ParseResult, spec: FeedSpec) -> None:
    assert isinstance(result, ParseResult)
    assert (result.error is None) or result.entries == ()
    for entry in result.entries:
        assert isinstance(entry, records.Entry)
        assert entry.key.split(":", 1)[0] in ("arxiv", "doi", "url", "guid") and entry.key
        assert entry.published.tzinfo is not None and entry.published.utcoffset() == timedelta(0)
        assert "\n" not in entry.title and entry.feeds == (spec.name,)
        assert isinstance(entry.abstract, str) and all(isinstance(a, str) for a in entry.authors)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    doc = bytearray(DOCS[draw(st.sampled_from(sorted(DOCS)))])
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(doc)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "snippet", "truncate"]))
        if action == "flip" and doc:
            doc[min(where, len(doc) - 1)] = draw(st.integers(0, 255))
        elif action == "cut":
            del doc[where : where + draw(st.integers(1, 200))]
        elif action == "insert":
            doc[where:where] = draw(st.binary(max_size=50))
        elif action == "snippet":
            doc[where:where] = draw(st.sampled_from(SNIPPETS))
        else:
            del doc[where:]
    return bytes(doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(st.binary(max_size=2000), mutated()),
    spec=st.sampled_from(SPECS),
    content_type=st.sampled_from(
        [None, "application/rss+xml", "application/json", "text/html; charset=latin-1"]
    ),
)
def test_random_and_mutated_documents_never_crash(
    body: bytes, spec: FeedSpec, content_type: str | None
) -> None:
    result = parse_document(
        body, content_type=content_type, location="https://x/", spec=spec, now=NOW
    )
    check(result, spec)


@pytest.fixture(scope="module")
def pool() -> Iterator[ParserPool]:
    with ParserPool(2, timeout=2.0) as parser_pool:
        yield parser_pool


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated(), spec=st.sampled_from(SPECS))
def test_mutated_documents_through_the_worker_pool_never_hang(
    pool: ParserPool, body: bytes, spec: FeedSpec
) -> None:
    started = time.monotonic()
    result = pool.parse(ParseJob(body, None, "https://x/", spec, NOW))
    assert time.monotonic() - started < pool.timeout + 3
    check(result, spec)


def _nested(depth: int) -> bytes:
    return (
        b"<rss version='2.0'><channel><item><title>deep</title>"
        + (b"<x>" * depth + b"</x>" * depth)
        + b"</item></channel></rss>"
    )


LAUGHS = (
    b"<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY l0 'lol'>"
    + b"".join(f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>".encode() for i in range(1, 10))
    + b"]><rss version='2.0'><channel><item><title>&l9;</title></item></channel></rss>"
)
HOSTILE = {
    "billion laughs": LAUGHS,
    "external entity": b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
    b"<rss version='2.0'><channel><item><title>&x;</title></item></channel></rss>",
    "deep nesting": _nested(50_000),
    "huge attribute": b"<rss version='2.0'><channel><item a='" + b"x" * 5_000_000
    + b"'><title>big</title></item></channel></rss>",
    "wrong encoding": "<?xml version='1.0' encoding='utf-16'?><rss version='2.0'><channel><item>"
    "<title>café</title></item></channel></rss>".encode(),
    "latin-1 declared utf-8": "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
    "<item><title>café</title></item></channel></rss>".encode("latin-1"),
    "truncated": DOCS["arxiv-cs.CL.rss"][:1500],
    "binary garbage": bytes(range(256)) * 400,
    "quadratic author": b"<rss version='2.0'><channel><item><title>t</title><author>"
    + b"a" * 32768 + b"</author></item></channel></rss>",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_documents_end_in_bounded_time(pool: ParserPool, name: str) -> None:
    spec = SPECS[0]
    started = time.monotonic()
    result = pool.parse(ParseJob(HOSTILE[name], None, "https://x/", spec, NOW))
    assert time.monotonic() - started < pool.timeout + 3
    check(result, spec)
    if name == "external entity":
        assert all("root:" not in e.title for e in result.entries)
    if name == "billion laughs":
        assert all(len(e.title) < 100_000 for e in result.entries)
    if name == "quadratic author":
        assert result.error is not None and "longer than" in result.error
