"""Papers as the web pages show them: plain values computed from entries, ranked.

The same link logic as the digest (``render.views.pdf_url``, ``textutil.code_url``), so a
paper has the same PDF and code links on the page as in the mail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from newsletter.records import Entry, Span
from newsletter.render import textutil
from newsletter.render.views import Run, pdf_url

AUTHORS_SHOWN = 8
"""Authors listed by name before "and N others"."""


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper on a page; ``title`` and ``abstract`` are runs, marked where a search hit."""

    key: str
    anchor: str
    title: tuple[Run, ...]
    url: str | None
    authors: str
    abstract: tuple[Run, ...]
    abstract_url: str | None
    pdf_url: str | None
    code_url: str | None
    upvotes: int | None
    categories: tuple[str, ...]
    date: str
    feeds: str


class Rankable(Protocol):
    """An entry, or a light reference to one (``PaperRef``)."""

    @property
    def key(self) -> str: ...
    @property
    def popularity(self) -> int | None: ...
    @property
    def published(self) -> datetime: ...


R = TypeVar("R", bound=Rankable)


def rank_key(item: Rankable) -> tuple[int, float, str]:
    """Most upvoted first (unknown counts below zero), then newest, then by key."""
    votes = item.popularity if item.popularity is not None else -1
    return (-votes, -item.published.timestamp(), item.key)


def ranked(items: Iterable[R]) -> list[R]:
    return sorted(items, key=rank_key)


def _runs(text: str, spans: Sequence[Span]) -> tuple[Run, ...]:
    runs = textutil.clean_runs(textutil.split_spans(text, spans))
    return tuple(Run(piece, marked) for piece, marked in runs)


def abstract_link(entry: Entry) -> str | None:
    """The abstract page: arXiv's when the paper has an arXiv id, else the entry's link."""
    if entry.arxiv_id:
        return textutil.safe_url(f"https://arxiv.org/abs/{entry.arxiv_id}")
    return textutil.safe_url(entry.link)


def paper(
    entry: Entry, title_spans: Sequence[Span] = (), abstract_spans: Sequence[Span] = ()
) -> Paper:
    title = _runs(entry.title, title_spans) or (Run("(untitled)"),)
    categories = tuple(c for c in (textutil.clean(c) for c in entry.categories) if c)
    return Paper(
        key=entry.key,
        anchor="p-"
        + hashlib.blake2b(entry.key.encode("utf-8", "replace"), digest_size=6).hexdigest(),
        title=title,
        url=textutil.safe_url(entry.link),
        authors=textutil.shorten_authors(entry.authors, AUTHORS_SHOWN),
        abstract=_runs(entry.abstract, abstract_spans),
        abstract_url=abstract_link(entry),
        pdf_url=pdf_url(entry),
        code_url=textutil.code_url(entry.abstract),
        upvotes=entry.popularity,
        categories=categories[:12],
        date=textutil.format_date(entry.published),
        feeds=", ".join(f for f in (textutil.clean(f) for f in entry.feeds) if f),
    )
