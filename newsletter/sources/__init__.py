"""Feed retrieval and parsing: arXiv, Hugging Face Daily Papers, RSS/Atom/JSON Feed.

The lead calls ``fetch_feeds`` with each configured feed and its saved state, stores
the returned entries (merging repeat sightings with ``merge_entries``) and saves the
returned state.

The names below are imported on first use (PEP 562): a parser worker process imports
``newsletter.sources.parse`` and, with it, this package, and must not pay for the
download machinery (asyncio, httpx, httpcore) it never uses — that was three quarters
of a worker's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.sources.fetch import fetch_feeds
    from newsletter.sources.merge import combine, is_update, merge_entries
    from newsletter.sources.model import FEED_TYPES, FeedSpec, FeedState, FetchOutcome
    from newsletter.sources.parse import ParseResult, parse_document
    from newsletter.sources.politeness import health

_HOMES = {
    "fetch_feeds": "fetch",
    "combine": "merge",
    "is_update": "merge",
    "merge_entries": "merge",
    "FEED_TYPES": "model",
    "FeedSpec": "model",
    "FeedState": "model",
    "FetchOutcome": "model",
    "ParseResult": "parse",
    "parse_document": "parse",
    "health": "politeness",
}

__all__ = [
    "FEED_TYPES",
    "FeedSpec",
    "FeedState",
    "FetchOutcome",
    "ParseResult",
    "combine",
    "fetch_feeds",
    "health",
    "is_update",
    "merge_entries",
    "parse_document",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
