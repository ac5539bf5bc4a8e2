"""Feed retrieval and parsing: arXiv, Hugging Face Daily Papers, RSS/Atom/JSON Feed.

The lead calls ``fetch_feeds`` with each configured feed and its saved state, stores
the returned entries (merging repeat sightings with ``merge_entries``) and saves the
returned state.

``fetch_feeds`` is imported on first use (PEP 562): a parser worker process imports
``newsletter.sources.parse`` and, with it, this package, and must not pay for the
download machinery (asyncio, httpx, httpcore) it never uses — that was three quarters
of a worker's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from newsletter.sources.health import FeedHealth, feed_health, health
from newsletter.sources.merge import combine, is_update, merge_entries
from newsletter.sources.model import FEED_TYPES, FeedSpec, FeedState, FetchOutcome
from newsletter.sources.parse import ParseResult, parse_document

if TYPE_CHECKING:
    from newsletter.sources.fetch import fetch_feeds

__all__ = [
    "FEED_TYPES",
    "FeedHealth",
    "FeedSpec",
    "FeedState",
    "FetchOutcome",
    "ParseResult",
    "combine",
    "feed_health",
    "fetch_feeds",
    "health",
    "is_update",
    "merge_entries",
    "parse_document",
]


def __getattr__(name: str) -> Any:
    if name == "fetch_feeds":
        from newsletter.sources.fetch import fetch_feeds

        return fetch_feeds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
