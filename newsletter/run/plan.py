"""The plan phase: who gets what. Matching runs once for everyone, then each subscriber's
digest is composed from the entries their topics matched, one subscriber at a time.

Whatever one subscriber's data makes go wrong is that subscriber's failure, reported in
their :class:`Planned`; the others are planned as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter import logs
from newsletter.compose import Composition, ItemCache, composition, popularity_order
from newsletter.config import Config, ConfigError, Problem
from newsletter.match import Matcher
from newsletter.records import Entry, Subscriber, Topic, TopicMatch
from newsletter.store.protocols import EntryStore, OutboxStore, VectorStore
from newsletter.store.records import Taken

event = logs.events(__name__)

LOOKUP_CHUNK = 500
"""Subscribers whose history is read per query: bounded memory, few round trips."""
ITEMS_KEPT = 200_000
"""Digest items shared between subscribers' compositions before the cache starts over
(bounds memory on a huge run; a start-over only costs making items again)."""
EXPLAIN_DAYS = 90
"""How far back an explaining plan (``match --subscriber``, a dry run) looks for matches
that are too old to send, so that "nothing new" says why."""


@dataclass(frozen=True, slots=True)
class Planned:
    """One subscriber's plan: a composition, or why none could be made."""

    subscriber: Subscriber
    composition: Composition | None = None
    error: str | None = None


def distinct_topics(subscribers: Sequence[Subscriber]) -> list[Topic]:
    """Every topic to evaluate once per entry (a trending topic with no ``query``/``about``
    takes every paper and needs no matching)."""
    unique = {topic.id: topic for s in subscribers for topic in s.topics}
    return [topic for topic in unique.values() if topic.query or topic.about]


def make_matcher(topics: Sequence[Topic], vectors: VectorStore, config: Config) -> Matcher:
    """Keyword topics need nothing more; ``about:`` topics get the embedding model, with
    entry vectors cached in the database so each entry is embedded once."""
    if not any(topic.about for topic in topics):
        return Matcher(topics)
    from newsletter.match.semantic import SemanticScorer, SemanticUnavailableError

    try:
        scorer = SemanticScorer(cache=vectors)
    except SemanticUnavailableError as exc:
        raise ConfigError([Problem(str(config.subscribers_path), None, str(exc))]) from exc
    return Matcher(topics, semantic=scorer)


class Planner:
    """Plans digests for a list of subscribers at one moment (``now``)."""

    def __init__(
        self,
        config: Config,
        entries: EntryStore,
        outbox: OutboxStore,
        vectors: VectorStore,
        now: datetime,
        *,
        explain: bool = False,
    ) -> None:
        self.explain = explain
        self.config = config
        self.entries = entries
        self.outbox = outbox
        self.vectors = vectors
        self.now = now
        self.items: ItemCache = {}

    def plan(self, subscribers: Sequence[Subscriber]) -> Iterator[Planned]:
        """Each subscriber's plan, lazily: memory holds the run's entries and one chunk of
        subscribers' history, never the whole list's digests."""
        if not subscribers:
            return
        lookback = self.now - timedelta(days=self.config.digest.lookback_days)
        last = self.outbox.last_digests_of([s.email for s in subscribers])
        oldest = min((t or lookback) for t in last.values())
        window = self._window(subscribers, min(oldest, lookback), lookback)
        self.items.clear()  # items are valid for one window's matches
        for start in range(0, len(subscribers), LOOKUP_CHUNK):
            chunk = subscribers[start : start + LOOKUP_CHUNK]
            taken_of = self.outbox.taken_entries_of([s.email for s in chunk])
            if len(self.items) > ITEMS_KEPT:
                self.items.clear()
            for subscriber in chunk:
                email = subscriber.email.lower()
                try:
                    yield Planned(
                        subscriber, self._compose(subscriber, window, taken_of[email], last[email])
                    )
                except Exception as exc:  # one subscriber's data must not stop the others
                    event(
                        "plan_failed",
                        logging.ERROR,
                        exc_info=True,
                        subscriber=subscriber.email,
                    )
                    yield Planned(subscriber, error=f"{type(exc).__name__}: {exc}")

    def _window(
        self, subscribers: Sequence[Subscriber], since: datetime, lookback: datetime
    ) -> _Window:
        """The entries of the run, matched once against every distinct topic."""
        entries = self.entries.entries_since(since)
        versioned = [e for e in entries if e.version is not None]
        if self.explain:  # older matches too, only to be counted as "older than the lookback"
            known = {e.key for e in entries}
            older = min(since, self.now - timedelta(days=EXPLAIN_DAYS))
            entries += [e for e in self.entries.entries_since(older) if e.key not in known]
        matches = make_matcher(distinct_topics(subscribers), self.vectors, self.config).match(
            entries
        )
        by_topic: dict[str, list[str]] = {}
        for key, found in matches.items():
            for topic_id in found:
                by_topic.setdefault(topic_id, []).append(key)
        by_key = {entry.key: entry for entry in entries}
        return _Window(by_key, matches, by_topic, versioned, popularity_order(entries), lookback)

    def _compose(
        self,
        subscriber: Subscriber,
        window: _Window,
        taken: Taken,
        previous: datetime | None,
    ) -> Composition:
        keys = dict.fromkeys(k for t in subscriber.topics for k in window.by_topic.get(t.id, ()))
        any_paper = any(t.trending and not (t.query or t.about) for t in subscriber.topics)
        updated = (
            [e for e in window.versioned if taken.has_older_version_of(e)]
            if self.config.digest.updates == "list"
            else []
        )
        return composition(
            subscriber,
            [window.by_key[k] for k in keys],
            window.matches,
            taken=taken.keys,
            since=previous or window.lookback,
            first_digest=previous is None,
            max_items=self.config.digest.max_items,
            now=self.now,
            updated=updated,
            popular=window.popular if any_paper else (),
            items=self.items,
        )


@dataclass(frozen=True, slots=True)
class _Window:
    """What one plan works from: the entries looked at, matched once for everyone."""

    by_key: dict[str, Entry]
    matches: dict[str, dict[str, TopicMatch]]
    by_topic: dict[str, list[str]]
    """Topic id → keys of the entries it matched."""
    versioned: list[Entry]
    """Entries with a version (candidates for "Updated"), from the sending window only."""
    popular: list[Entry]
    """Every entry, most popular first (what an any-paper trending topic walks)."""
    lookback: datetime
