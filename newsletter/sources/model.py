"""The records a fetch takes and returns: what to fetch, what we remember about it, what happened.

They are plain frozen dataclasses of plain types and datetimes so the lead's store can
persist them column by column and tests can build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter import records
from newsletter.records import FetchStatus

FEED_TYPES = ("feed", "arxiv", "hf-daily-papers")
"""The ``type:`` values a feed in the config may have."""

ARXIV_ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


@dataclass(frozen=True)
class FeedSpec:
    """One configured feed: where it is and how to read it."""

    name: str
    url: str
    type: str = "feed"
    """``feed`` (RSS/Atom/JSON Feed), ``arxiv`` or ``hf-daily-papers``."""
    announce_types: tuple[str, ...] = ("new", "cross")
    """arXiv only: which announcement types to keep."""


@dataclass(frozen=True)
class FeedState:
    """What we remember between fetches of one feed (the lead persists it)."""

    url: str
    """The current URL: a permanent redirect (301/308) replaces the configured one."""
    etag: str | None = None
    last_modified: str | None = None
    next_fetch_after: datetime | None = None
    """Not fetched before this (from Retry-After, Cache-Control max-age or failure backoff)."""
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    disabled: str | None = None
    """Why the feed is no longer fetched (e.g. ``410 Gone``); ``force`` fetches it anyway."""
    last_entry_count: int | None = None
    """Entries kept from the last successful fetch (0 for 304 or an empty feed)."""
    failing_since: datetime | None = None
    """When the current run of consecutive failures began (None while healthy)."""


@dataclass(frozen=True)
class FetchOutcome:
    """What happened to one feed in one fetch run."""

    feed: str
    status: FetchStatus
    """``new``, ``not_modified``, ``error`` or ``skipped`` (not due yet, or disabled)."""
    entries: tuple[records.Entry, ...]
    state: FeedState
    message: str = ""
    warnings: tuple[str, ...] = ()
