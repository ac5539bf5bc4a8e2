"""Atom 1.0 documents (RFC 4287) built with lxml, so no feed text can break the XML.

Ids are stable: a feed's id and each entry's id are name-based UUIDs (``urn:uuid:``) of
the site's URL and the paper's canonical key, so a reader never sees a paper twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree  # type: ignore[import-untyped]

from newsletter.records import Entry
from newsletter.render import textutil
from newsletter.render.views import pdf_url

ATOM = "http://www.w3.org/2005/Atom"
AUTHORS_LISTED = 20


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What describes a feed as a whole."""

    id_source: str
    """The absolute URL the feed's id is derived from (its own URL)."""
    title: str
    subtitle: str
    self_url: str
    site_url: str
    author: str
    updated: datetime


def stable_id(source: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, source).urn


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = textutil.clean(text)
    return element


def atom_feed(info: FeedInfo, entries: Sequence[Entry], base_url: str) -> bytes:
    """The feed document; ``base_url`` scopes the entry ids to this site."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    _add(feed, "id", stable_id(info.id_source))
    _add(feed, "title", info.title)
    _add(feed, "subtitle", info.subtitle)
    _add(feed, "updated", _time(info.updated))
    _add(feed, "link", rel="self", type="application/atom+xml", href=info.self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=info.site_url)
    author = _add(feed, "author")
    _add(author, "name", info.author)
    _add(feed, "generator", "newsletter")
    for entry in entries:
        _entry(feed, entry, base_url)
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="utf-8"))


def _entry(feed: etree._Element, entry: Entry, base_url: str) -> None:
    item = _add(feed, "entry")
    _add(item, "id", stable_id(f"{base_url.rstrip('/')}/#{entry.key}"))
    _add(item, "title", textutil.clean(entry.title) or "(untitled)")
    updated = max(entry.published, entry.first_seen or entry.published)
    _add(item, "published", _time(entry.published))
    _add(item, "updated", _time(updated))
    link = textutil.safe_url(entry.link)
    if link:
        _add(item, "link", rel="alternate", type="text/html", href=link)
    pdf = pdf_url(entry)
    if pdf:
        _add(item, "link", rel="related", type="application/pdf", href=pdf)
    for name in entry.authors[:AUTHORS_LISTED]:
        if textutil.clean(name):
            _add(_add(item, "author"), "name", name)
    for category in entry.categories:
        term = textutil.clean(category)
        if term:
            _add(item, "category", term=term)
    summary = textutil.clean(entry.abstract)
    if entry.popularity is not None:
        summary = f"▲ {entry.popularity} upvotes. {summary}".strip()
    if summary:
        _add(item, "summary", summary, type="text")
