"""Shared by the web tests: a real store with papers in it, a clock, and the app over both.

The app runs on waitress (``newsletter.web.running``) on a loopback port; the store is a
real SQLite file or the test PostgreSQL database (the ``database_url`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from newsletter.records import Entry, Topic
from newsletter.store import EntryWrite, Store
from newsletter.web import Site, create_app, running

SECRET = "web-test-secret-0123456789"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BASE_URL = "https://digest.example.org/news"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def store_url(database_url: str, tmp_path: Path) -> str:
    """The ``database_url`` fixture's database; SQLite as a file in this test's folder."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'state' / 'web.db'}"
    return database_url


def paper(
    number: int,
    *,
    published: datetime = NOW,
    popularity: int | None = None,
    title: str | None = None,
    abstract: str = "",
    **fields: Any,
) -> Entry:
    """A paper with an arXiv id (so it has abstract and PDF links)."""
    arxiv_id = f"2611.{number:05d}"
    return Entry(
        key=f"arxiv:{arxiv_id}",
        title=title or f"Paper number {number}",
        link=fields.pop("link", f"https://huggingface.co/papers/{arxiv_id}"),
        published=published,
        abstract=abstract or f"The abstract of paper {number} about sparse attention.",
        authors=fields.pop("authors", (f"Author {number}", "Second Author")),
        categories=fields.pop("categories", ("cs.LG",)),
        feeds=fields.pop("feeds", ("arxiv-cs",)),
        popularity=popularity,
        arxiv_id=arxiv_id,
        first_seen=published,
        **fields,
    )


def add(store: Store, entries: Sequence[Entry], now: datetime = NOW) -> None:
    conflicts = store.write_entries([EntryWrite(e) for e in entries], now=now)
    assert conflicts == []


def update(store: Store, entry: Entry, now: datetime, **changes: Any) -> Entry:
    stored = store.read_entries([entry.key])[entry.key]
    new = replace(stored.entry, **changes)
    assert store.write_entries([EntryWrite(new, stored.revision)], now=now) == []
    return new


TOPICS = {
    "attention": Topic(id="attention", title="Attention", query="attention"),
    "robots": Topic(id="robots", title="Robots", query="title:robot*"),
    "hot": Topic(id="hot", title="Trending", trending=2),
}


def site(store: Store, clock: Clock, **options: Any) -> Site:
    values: dict[str, Any] = {
        "store": store,
        "now": clock,
        "title": "Paper <Digest>",
        "base_url": BASE_URL,
        "timezone": "Europe/Berlin",
        "topics": TOPICS,
        "archive_days": 30,
    }
    values.update(options)
    return Site(**values)


@contextmanager
def serving(
    store: Store, clock: Clock, *, trusted_proxies: int = 0, **options: Any
) -> Iterator[str]:
    """The whole app (unsubscribe, archive, public, feeds) on a loopback port."""
    app = create_app(
        secret=SECRET,
        suppressions=store,
        base_path="/news",
        title="Paper <Digest>",
        now=clock,
        site=site(store, clock, **options),
        trusted_proxies=trusted_proxies,
    )
    with running(app, trusted_proxies=trusted_proxies) as url:
        yield url + "/news"


def later(days: float) -> timedelta:
    return timedelta(days=days)


# -- fixtures, registered by the modules that use them (``store = pytest.fixture(...)``) -------


def store_fixture(database_url: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on the test's backend."""
    opened = Store.open(store_url(database_url, tmp_path))
    yield opened
    opened.close()


def clock_fixture() -> Clock:
    return Clock()


def client_fixture(store: Store, clock: Clock) -> Iterator[httpx.Client]:
    """A client of the site served over real HTTP from ``store`` at ``clock``."""
    with serving(store, clock) as url, httpx.Client(base_url=url) as c:
        yield c
