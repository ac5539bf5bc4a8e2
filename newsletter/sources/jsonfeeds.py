"""JSON sources: JSON Feed 1.0/1.1 and the Hugging Face Daily Papers API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from newsletter import records
from newsletter.sources import keys, text
from newsletter.sources.model import FeedSpec

HF_PAPER_URL = "https://huggingface.co/papers/{id}"


class NotAFeed(ValueError):
    """The document is not in the format the feed's type promises."""


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type.lower():
        return True
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"{", b"[")


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotAFeed(f"not valid JSON: {exc}") from None


def parse_datetime(value: object) -> datetime | None:
    """An ISO 8601 / RFC 3339 timestamp as aware UTC, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _names(authors: object, *, tex: bool = False) -> tuple[str, ...]:
    """One name per person in a JSON author list; two people may share a name."""
    if isinstance(authors, Mapping):
        authors = [authors]
    if not isinstance(authors, list):
        return ()
    names = (text.line(_str(a.get("name")), tex=tex) for a in authors if isinstance(a, Mapping))
    return tuple(n for n in names if n)


def _tags(tags: object) -> tuple[str, ...]:
    if not isinstance(tags, list):
        return ()
    return tuple(dict.fromkeys(t for t in (text.line(t) for t in tags if isinstance(t, str)) if t))


def _pdf_link(attachments: object) -> str | None:
    if not isinstance(attachments, list):
        return None
    links = (
        text.link(_str(a.get("url")))
        for a in attachments
        if isinstance(a, Mapping) and _str(a.get("mime_type")) == "application/pdf"
    )
    return next((link for link in links if link), None)


def parse_json_feed(data: Any, spec: FeedSpec, now: datetime) -> list[records.Entry]:
    """Entries of a JSON Feed (https://jsonfeed.org/version/1.1)."""
    if not isinstance(data, Mapping) or "jsonfeed.org" not in _str(data.get("version")):
        raise NotAFeed("JSON document is not a JSON Feed (no jsonfeed.org version)")
    items = data.get("items")
    if not isinstance(items, list):
        raise NotAFeed("JSON Feed has no items list")
    feed_authors = _names(data.get("authors") or data.get("author"))
    entries = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        link = text.link(_str(item.get("url"))) or text.link(_str(item.get("external_url")))
        raw_id = item.get("id")
        guid = text.line("" if raw_id is None else str(raw_id), limit=None)
        arxiv = keys.parse_arxiv_id(link) or keys.parse_arxiv_id(guid)
        tex = arxiv is not None  # TeX only where the item is an arXiv paper
        title = text.line(_str(item.get("title")), tex=tex)
        # JSON Feed's summary is plain text by the spec, but is HTML in practice as
        # often as not; reading it as HTML keeps its text either way.
        if item.get("content_html") or item.get("summary"):
            raw, html = _str(item.get("summary")) or _str(item.get("content_html")), True
        else:
            raw, html = _str(item.get("content_text")), False
        abstract = text.paragraphs(raw, html=html, tex=tex)
        if not title:
            title = text.line(abstract[:80]) or link or guid or "(untitled)"
        doi = keys.find_doi(guid, link, text.link(_str(item.get("external_url"))))
        published = parse_datetime(item.get("date_published")) or parse_datetime(
            item.get("date_modified")
        )
        pdf = _pdf_link(item.get("attachments"))
        entries.append(
            records.Entry(
                key=keys.canonical_key(
                    arxiv_id=arxiv[0] if arxiv else None, doi=doi, link=link, guid=guid,
                    fallback=f"{spec.name}\n{title}\n{abstract[:200]}",
                ),
                title=title,
                link=link,
                published=published or now,
                abstract=abstract,
                authors=_names(item.get("authors") or item.get("author"), tex=tex)
                or feed_authors,
                categories=_tags(item.get("tags")),
                feeds=(spec.name,),
                pdf_link=pdf or (keys.arxiv_pdf_link(arxiv[0]) if arxiv else None),
                arxiv_id=arxiv[0] if arxiv else None,
                version=arxiv[1] if arxiv else None,
                first_seen=now,
            )
        )  # fmt: skip
    return entries


def parse_hf_daily_papers(data: Any, spec: FeedSpec, now: datetime) -> list[records.Entry]:
    """Entries of ``https://huggingface.co/api/daily_papers`` (a JSON array of papers)."""
    if not isinstance(data, list):
        raise NotAFeed("Hugging Face daily papers: expected a JSON array of papers")
    entries = []
    for item in data:
        paper = item.get("paper") if isinstance(item, Mapping) else None
        if not isinstance(paper, Mapping):
            continue
        parsed = keys.parse_arxiv_id(_str(paper.get("id")))
        if not parsed:
            continue
        arxiv_id, version = parsed
        upvotes = paper.get("upvotes")
        title = text.line(_str(paper.get("title")) or _str(item.get("title")), tex=True)
        entries.append(
            records.Entry(
                key=keys.canonical_key(arxiv_id=arxiv_id),
                title=title or arxiv_id,
                link=HF_PAPER_URL.format(id=arxiv_id),
                published=parse_datetime(paper.get("publishedAt"))
                or parse_datetime(item.get("publishedAt"))
                or now,
                abstract=text.paragraphs(_str(paper.get("summary")), tex=True),
                authors=_names(paper.get("authors"), tex=True),
                feeds=(spec.name,),
                pdf_link=keys.arxiv_pdf_link(arxiv_id),
                popularity=upvotes
                if isinstance(upvotes, int) and not isinstance(upvotes, bool)
                else None,
                arxiv_id=arxiv_id,
                version=version,
                first_seen=now,
            )
        )
    return entries
