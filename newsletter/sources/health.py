"""How a feed is doing over its recent fetches, as a record (``status`` and ``fetch`` show it).

One failed fetch is weather; a feed is flagged only once failures persist for
``threshold`` fetches in a row. An empty fetch (an arXiv weekend or holiday) is quiet,
not failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from newsletter.records import HealthStatus
from newsletter.sources.model import FeedState

FAILING_AFTER = 3
"""Failed fetches in a row before a feed counts as failing."""


@dataclass(frozen=True, slots=True)
class FeedHealth:
    status: HealthStatus
    since: datetime | None = None
    failures: int = 0
    detail: str | None = None
    """The last error, or why the feed was disabled."""

    @property
    def needs_attention(self) -> bool:
        return self.status.needs_attention

    def __str__(self) -> str:
        """One phrase for people: ``ok``, ``quiet (no new entries)``, ``failing since …``."""
        status = self.status
        if status is HealthStatus.DISABLED:
            return f"disabled: {self.detail}"
        if status is HealthStatus.FAILING:
            when = self.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if self.since else "?"
            return (
                f"failing since {when} ({self.failures} failed fetches in a row): "
                f"{self.detail or 'unknown error'}"
            )
        if status is HealthStatus.RETRYING:
            return f"not fetched yet (retrying after: {self.detail or 'an error'})"
        if status is HealthStatus.QUIET:
            return "quiet (no new entries)"
        if status is HealthStatus.NEVER:
            return "not fetched yet"
        return "ok"


def feed_health(state: FeedState | None, threshold: int = FAILING_AFTER) -> FeedHealth:
    if state is None:
        return FeedHealth(HealthStatus.NEVER)
    if state.disabled:
        return FeedHealth(HealthStatus.DISABLED, detail=state.disabled)
    if state.last_success is None and state.consecutive_failures == 0:
        return FeedHealth(HealthStatus.NEVER)
    if state.consecutive_failures >= threshold:
        return FeedHealth(
            HealthStatus.FAILING,
            since=state.failing_since or state.last_error_at,
            failures=state.consecutive_failures,
            detail=state.last_error,
        )
    if state.last_success is None:
        return FeedHealth(HealthStatus.RETRYING, detail=state.last_error)
    if state.last_entry_count == 0:
        return FeedHealth(HealthStatus.QUIET)
    return FeedHealth(HealthStatus.OK)


def health(state: FeedState | None, threshold: int = FAILING_AFTER) -> str:
    """The phrase people read (``ok``, ``failing since …``); code reads :func:`feed_health`."""
    return str(feed_health(state, threshold))
