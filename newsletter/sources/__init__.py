"""Feed retrieval and parsing: arXiv, Hugging Face Daily Papers, RSS/Atom/JSON Feed.

The lead calls ``fetch_feeds`` with each configured feed and its saved state, stores
the returned entries (merging repeat sightings with ``merge_entries``) and saves the
returned state.
"""

from newsletter.sources.fetch import fetch_feeds
from newsletter.sources.health import FeedHealth, feed_health, health
from newsletter.sources.merge import combine, is_update, merge_entries
from newsletter.sources.model import FEED_TYPES, FeedSpec, FeedState, FetchOutcome
from newsletter.sources.parse import ParseResult, parse_document

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
