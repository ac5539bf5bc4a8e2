"""Parse one downloaded document into entries: RSS/Atom (feedparser), JSON Feed, HF, arXiv.

``parse_document`` never raises on bad input: whatever a publisher sends becomes
entries, warnings, or an error message for that feed. It runs inside a worker
process (see ``worker``) so a pathological document can be stopped by the clock.
"""

from __future__ import annotations

import calendar
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from newsletter import records
from newsletter.sources import arxiv, authors, jsonfeeds, keys, text
from newsletter.sources.merge import combine
from newsletter.sources.model import FeedSpec

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_BENIGN = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
"""Bozo reasons that say nothing about the entries (a missing or odd Content-Type)."""


@dataclass(frozen=True)
class ParseResult:
    """The entries of one document, or why there are none."""

    entries: tuple[records.Entry, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    skipped: int = 0
    """Entries left out on purpose (arXiv announce types not configured)."""


def parse_document(
    body: bytes, *, content_type: str | None, location: str, spec: FeedSpec, now: datetime
) -> ParseResult:
    """Entries from a feed document; errors are returned, never raised."""
    try:
        return _parse(body, content_type, location, spec, now)
    except jsonfeeds.NotAFeed as exc:
        return ParseResult(error=str(exc))
    except Exception as exc:  # hostile input must not stop the run; report it per feed
        return ParseResult(error=f"could not parse the feed ({type(exc).__name__}: {exc})"[:500])


def _parse(
    body: bytes, content_type: str | None, location: str, spec: FeedSpec, now: datetime
) -> ParseResult:
    if not body.strip():
        return ParseResult(error="the feed is empty (0 bytes of content)")
    if spec.type == "hf-daily-papers":
        entries = jsonfeeds.parse_hf_daily_papers(jsonfeeds.load_json(body), spec, now)
        return ParseResult(entries=tuple(combine(entries)))
    if jsonfeeds.looks_like_json(body, content_type):
        entries = jsonfeeds.parse_json_feed(jsonfeeds.load_json(body), spec, now)
        return ParseResult(entries=tuple(combine(keys.distinct_permalinks(entries))))
    return _parse_xml(body, content_type, location, spec, now)


def _parse_xml(
    body: bytes, content_type: str | None, location: str, spec: FeedSpec, now: datetime
) -> ParseResult:
    headers = {"content-location": location}
    if content_type:
        headers["content-type"] = content_type
    # Bytes in a stream: given a str, feedparser would fetch URLs or open paths itself.
    # Relative URIs inside content markup are not resolved: content becomes plain text,
    # so its links are dropped anyway, and resolving them costs about a third of the
    # parse. Entry links themselves are still resolved against the location.
    # Markup is not sanitised either: feedparser's sanitiser reads "$1<p<2$" as a
    # <p> tag and mangles it; our own reading (text.read) keeps only plain text.
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=headers, resolve_relative_uris=False,
        sanitize_html=False,
    )  # fmt: skip
    warnings: list[str] = []
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), _BENIGN):
        problem = f"{type(parsed.get('bozo_exception')).__name__}: {parsed.get('bozo_exception')}"
        if not parsed.entries:
            return ParseResult(error=f"not a readable feed ({problem})"[:500])
        warnings.append(f"malformed feed, entries read anyway ({problem})"[:500])
    if not parsed.entries and not parsed.get("version"):
        return ParseResult(error="not an RSS, Atom or JSON feed")
    entries = keys.distinct_permalinks([_entry(e, spec, now) for e in parsed.entries])
    kept = [e for e in entries if _wanted(e, spec)]
    return ParseResult(
        entries=tuple(combine(kept)), warnings=tuple(warnings), skipped=len(entries) - len(kept)
    )


def _wanted(entry: records.Entry, spec: FeedSpec) -> bool:
    if spec.type != "arxiv" or entry.announce_type is None:
        return True
    return entry.announce_type in spec.announce_types


def _date(e: Mapping[str, Any]) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get maps a missing published_parsed to updated_parsed
        # with a DeprecationWarning; we look at each field ourselves.
        value = dict.get(e, name) if isinstance(e, dict) else e.get(name)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _is_html(detail: object) -> bool:
    return isinstance(detail, Mapping) and detail.get("type") in _HTML_TYPES


def _raw_summary(e: Mapping[str, Any]) -> tuple[str, bool]:
    """The summary (else the first content) as the publisher wrote it, and if it is HTML."""
    summary = e.get("summary")
    if isinstance(summary, str) and summary.strip():
        return summary, _is_html(e.get("summary_detail"))
    contents = e.get("content") or []
    first = contents[0] if contents and isinstance(contents[0], Mapping) else {}
    value = first.get("value", "")
    return (value if isinstance(value, str) else ""), _is_html(first)


def _authors(e: Mapping[str, Any], *, paper: bool) -> tuple[str, ...]:
    """People from feedparser's author list.

    A paper's names (arXiv's one ``dc:creator`` string, the API's ``<author>`` list)
    are split with duplicates kept: two people may share a name. Elsewhere RSS repeats
    one person in ``author`` and ``dc:creator``, so identical entries are dropped
    before splitting.
    """
    raw = [a.get("name") for a in e.get("authors") or [] if isinstance(a, Mapping)]
    names = [n for n in raw if isinstance(n, str) and n.strip()]
    if not names and isinstance(e.get("author"), str):
        names = [e["author"]]
    if not paper:
        names = list(dict.fromkeys(names))
    return tuple(p for n in names for p in authors.people(n, tex=paper, arxiv=paper))


def _pdf_link(e: Mapping[str, Any]) -> str | None:
    for link in e.get("links") or []:
        if isinstance(link, Mapping) and link.get("type") == "application/pdf":
            href = link.get("href")
            if isinstance(href, str) and text.link(href):
                return text.link(href)
    return None


def _categories(e: Mapping[str, Any]) -> tuple[str, ...]:
    terms = (t.get("term") for t in e.get("tags") or [] if isinstance(t, Mapping))
    lines = (text.line(term) for term in terms if isinstance(term, str))
    return tuple(dict.fromkeys(term for term in lines if term))


def _doi(e: Mapping[str, Any], guid: str, link: str) -> str | None:
    fields = (e.get("prism_doi"), e.get("dc_identifier"))
    cleaned = (text.line(v, limit=None) if isinstance(v, str) else None for v in fields)
    return keys.find_doi(*cleaned, guid, link)


def _text_field(e: Mapping[str, Any], name: str) -> str:
    value = e.get(name)
    return value if isinstance(value, str) else ""


def _entry(e: Mapping[str, Any], spec: FeedSpec, now: datetime) -> records.Entry:
    link = text.link(_text_field(e, "link"))
    guid = text.line(_text_field(e, "id"), limit=None)
    found = keys.parse_arxiv_id(guid) or keys.parse_arxiv_id(link)
    arxiv_id, version = found if found else (None, None)
    announce: str | None = None
    is_arxiv = spec.type == "arxiv" or guid.lower().startswith("oai:arxiv.org:")
    raw_title = str(e.get("title", ""))
    raw_summary, summary_is_html = _raw_summary(e)
    title_is_html = _is_html(e.get("title_detail"))
    if is_arxiv:
        item = arxiv.read_item(text.hygiene(raw_title), text.hygiene(raw_summary, multiline=True))
        raw_title, raw_summary = item.title, item.summary
        found = keys.parse_arxiv_id(item.arxiv_id) if item.arxiv_id else None
        arxiv_id = arxiv_id or (found[0] if found else None)
        version = version or item.version
        announce = item.announce_type
        explicit = e.get("arxiv_announce_type")
        if isinstance(explicit, str) and explicit.strip():
            announce = text.line(explicit).lower()
        # The 2024 format's <description> is nominally HTML but TeX as plain text: a "<"
        # in it is a less-than sign ($1<p<2$), never a tag. Its titles are plain too.
        summary_is_html = summary_is_html and not item.summary_is_tex
        title_is_html = False
    # A paper's title, abstract and names are TeX (an arXiv item, or a link to one).
    paper = is_arxiv or arxiv_id is not None
    title = text.line(raw_title, html=title_is_html, tex=paper)
    abstract = text.paragraphs(raw_summary, html=summary_is_html, tex=paper)
    doi = None if arxiv_id else _doi(e, guid, link)
    if not title:
        title = text.line(abstract[:80]) or link or guid or "(untitled)"
    return records.Entry(
        key=keys.canonical_key(
            arxiv_id=arxiv_id, doi=doi, link=link, guid=guid,
            fallback=f"{spec.name}\n{title}\n{abstract[:200]}",
        ),
        title=title,
        link=(keys.arxiv_abs_link(arxiv_id) if is_arxiv and arxiv_id else link),
        published=_date(e) or now,
        abstract=abstract,
        authors=_authors(e, paper=paper),
        categories=_categories(e),
        feeds=(spec.name,),
        pdf_link=_pdf_link(e) or (keys.arxiv_pdf_link(arxiv_id) if arxiv_id else None),
        arxiv_id=arxiv_id,
        version=version,
        announce_type=announce,
        first_seen=now,
    )  # fmt: skip
