"""What the public pages need to know: settings from the config, the store, the clock.

Built once per app (``web_app``); the blueprints read it instead of the config, so the
pages can be tested with any store and clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Protocol
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from newsletter import __version__
from newsletter.match import Matcher
from newsletter.records import Topic
from newsletter.store.protocols import ArchiveStore, EntryStore, PaperStore

MatcherFactory = Callable[[Sequence[Topic]], Matcher]
"""Builds the matcher for library topics (``about:`` topics need the embedding model)."""


class SiteStore(EntryStore, PaperStore, ArchiveStore, Protocol):
    """The store as the public pages and the archive read it (``read_entries`` fetches the
    papers a page has no card for yet)."""


def _keyword_matcher(topics: Sequence[Topic]) -> Matcher:
    return Matcher(topics)


@dataclass(frozen=True)
class Site:
    """Everything the day's papers, search, feeds and archive pages read."""

    store: SiteStore
    now: Callable[[], datetime]
    title: str
    base_url: str
    """Absolute URL the app answers under (links in feeds are absolute)."""
    timezone: str = "UTC"
    """Days begin at midnight here (the newsletter's ``timezone``)."""
    topics: Mapping[str, Topic] = field(default_factory=dict)
    """Library topics, each with an Atom feed at ``/topics/<id>.atom``."""
    archive_days: int = 90
    public_site: bool = True
    matcher: MatcherFactory = _keyword_matcher
    search_rate: str = "30 per minute"
    """Searches per client address (Flask-Limiter notation)."""
    max_query: int = 500
    """Characters a search query may have; longer ones answer 400."""
    page_cache_bytes: int = 32 * 1024 * 1024
    """Rendered day pages and feeds kept in memory under their ETag (0: none)."""
    card_cache_bytes: int = 48 * 1024 * 1024
    """Rendered paper cards kept in memory per paper revision (0: none)."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def prefix(self) -> str:
        """The path of ``base_url`` without its trailing slash (``""`` at the root)."""
        return urlsplit(self.base_url).path.rstrip("/")

    def path(self, path: str) -> str:
        """A site-relative link: ``/papers/2026-11-26`` under the app's prefix."""
        return self.prefix + "/" + quote(path.lstrip("/"), safe="/.-_~")

    def url(self, path: str) -> str:
        """An absolute link (for feeds, which leave the site)."""
        return self.base_url.rstrip("/") + "/" + quote(path.lstrip("/"), safe="/.-_~")

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def day_start(self, day: date) -> datetime:
        """Midnight at the start of ``day`` in the site's time zone (a DST day is 23 or 25 h)."""
        return datetime.combine(day, time(0), self.zone)

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        return self.day_start(day), self.day_start(day + timedelta(days=1))

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever something every page depends on changes (ETags include it)."""
        material = repr(
            (
                __version__,
                self.title,
                self.base_url,
                self.timezone,
                sorted((k, repr(v)) for k, v in self.topics.items()),
            )
        )
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    @property
    def nav(self) -> dict[str, object] | None:
        """The site bar's links (None when the public site is off)."""
        if not self.public_site:
            return None
        return {
            "home": self.path("/"),
            "feed": self.path("/feed.atom"),
            "search": self.path("/search"),
            "max_query": self.max_query,
        }

    def day_url(self, day: date) -> str:
        return self.path(f"/papers/{day.isoformat()}")
