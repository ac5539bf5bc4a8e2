"""How one fetch changes a feed's state: caching, Retry-After, backoff, health.

Pure functions of (state, answer, now) so the schedule can be tested with an
injected clock instead of sleeping.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from newsletter.sources.model import FeedState

BACKOFF_BASE = timedelta(minutes=5)
"""Wait after the first failure; doubled for each further failure in a row."""
BACKOFF_CAP = timedelta(hours=24)
MAX_AGE_CAP = timedelta(hours=24)
"""A publisher's Cache-Control max-age is honoured up to this long."""
RETRY_AFTER_CAP = timedelta(days=7)

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def backoff(failures: int) -> timedelta:
    """Delay before the next try after ``failures`` failures in a row (capped)."""
    if failures <= 0:
        return timedelta(0)
    step: timedelta = BACKOFF_BASE * int(2 ** min(failures - 1, 20))
    return min(step, BACKOFF_CAP)


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """The moment a ``Retry-After`` header (seconds or HTTP date) allows the next try."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delay = moment - now
    return now + max(timedelta(0), min(delay, RETRY_AFTER_CAP))


def cache_until(cache_control: str | None, now: datetime) -> datetime | None:
    """Not before this moment, per ``Cache-Control: max-age`` (capped); None if absent."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    if not match:
        return None
    seconds = min(int(match.group(1)), int(MAX_AGE_CAP.total_seconds()))
    return now + timedelta(seconds=seconds) if seconds > 0 else None


def succeeded(
    state: FeedState,
    *,
    now: datetime,
    url: str,
    entry_count: int,
    etag: str | None,
    last_modified: str | None,
    cache_control: str | None,
) -> FeedState:
    """State after a 200 that parsed, or a 304."""
    return replace(
        state,
        url=url,
        etag=etag,
        last_modified=last_modified,
        next_fetch_after=cache_until(cache_control, now),
        last_success=now,
        consecutive_failures=0,
        failing_since=None,
        disabled=None,
        last_entry_count=entry_count,
    )


def failed(
    state: FeedState,
    *,
    now: datetime,
    message: str,
    url: str | None = None,
    not_before: datetime | None = None,
    disable: bool = False,
) -> FeedState:
    """State after a failure: backoff grows, ``not_before`` (Retry-After) is a floor."""
    failures = state.consecutive_failures + 1
    next_try = now + backoff(failures)
    if not_before is not None and not_before > next_try:
        next_try = not_before
    return replace(
        state,
        url=url or state.url,
        next_fetch_after=next_try,
        last_error=message,
        last_error_at=now,
        consecutive_failures=failures,
        failing_since=state.failing_since or now,
        disabled=message if disable else state.disabled,
    )
