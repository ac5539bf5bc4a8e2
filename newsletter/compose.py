"""Choosing what goes into one subscriber's digest. Pure: records in, a Digest (or None) out."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter.records import (
    Digest,
    DigestItem,
    Entry,
    Section,
    Span,
    Subscriber,
    Topic,
    TopicMatch,
)


@dataclass(frozen=True, slots=True)
class TopicCount:
    """Why a topic's matches did or did not make it into the digest (for ``match`` and the
    dry run: "nothing new" should never be a mystery)."""

    topic: Topic
    matched: int = 0
    """Entries the topic matched, in the entries looked at."""
    shown: int = 0
    older: int = 0
    """Matched but not new: older than the lookback (a first digest) or known before the
    previous digest."""
    delivered: int = 0
    """Matched but already in one of the subscriber's digests."""
    cut: int = 0
    """New matches left out because ``max_items`` was reached."""


@dataclass(frozen=True, slots=True)
class Composition:
    subscriber: Subscriber
    digest: Digest | None
    counts: tuple[TopicCount, ...]
    first_digest: bool


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sorted, non-overlapping spans (two topics may highlight overlapping words)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


ItemCache = dict[tuple[str, tuple[str, ...], str, bool], DigestItem]
"""Items already made in this run, by (entry key, topic ids, home topic, with spans).

A paper matched by the same topics is the same item in every subscriber's digest; a cut
digest lists ~150 of them, so a run of many subscribers makes each once. Valid for one
``matches`` mapping (one run), where a topic id names one topic (library ids are unique,
a subscriber's own topics are ``email#n``)."""


def composition(
    subscriber: Subscriber,
    entries: Iterable[Entry],
    matches: Mapping[str, Mapping[str, TopicMatch]],
    *,
    taken: Collection[str],
    since: datetime,
    first_digest: bool,
    max_items: int,
    now: datetime,
    updated: Iterable[Entry] = (),
    popular: Sequence[Entry] = (),
    items: ItemCache | None = None,
) -> Composition:
    """Build the digest, or None when there is nothing new (no empty mails), and count why
    each topic's matches did or did not make it.

    An entry is a candidate when it matches one of the subscriber's topics, is not
    already in one of their digests (``taken``), and is new: for a first digest,
    published since ``since`` (the lookback); later, published or first seen after the
    previous digest.

    Trending topics (``Topic.trending`` = N) come first: each takes the N most popular
    candidates (upvotes; papers without a figure after those with one, newest first) —
    any new paper of ``popular`` (every entry looked at, already in that order) when the
    topic has no ``query``/``about``, else those it matched —
    into a section of its own that does not count toward ``max_items``; a paper taken
    there is not repeated under another topic, and its card names every topic it matched.

    The other candidates are ranked by score: beyond ``max_items`` they are dropped, not
    carried over, so a digest never fills up with a backlog (the digest says how many:
    ``Digest.omitted``). Each appears once, in the section of its best-scoring topic.

    ``items`` (one per run) lets subscribers share the items they have in common.
    """
    topics = {topic.id: topic for topic in subscriber.topics}
    made: ItemCache = {} if items is None else items

    def item(candidate: _Candidate, first: str, spans: bool = True) -> DigestItem:
        key = (candidate.entry.key, candidate.ids, first, spans)
        found = made.get(key)
        if found is None:
            found = made[key] = candidate.item(topics, first=first, spans=spans)
        return found

    order = {topic_id: index for index, topic_id in enumerate(topics)}
    counts = {topic_id: _Count() for topic_id in topics}
    candidates: list[_Candidate] = []
    for entry in entries:
        found = matches.get(entry.key)
        if not found:
            continue
        # The subscriber's few topics looked up, not the many topics that matched the entry.
        mine = [found[topic_id] for topic_id in order if topic_id in found]
        if not mine:
            continue
        if len(mine) > 1:
            mine.sort(key=lambda m: (-m.score, order[m.topic_id]))
        ids = [m.topic_id for m in mine]
        for topic_id in ids:
            counts[topic_id].matched += 1
        if entry.key in taken:
            for topic_id in ids:
                counts[topic_id].delivered += 1
            continue
        if not _fresh(entry, since, first_digest):
            for topic_id in ids:
                counts[topic_id].older += 1
            continue
        candidates.append(_Candidate(entry, tuple(mine), tuple(ids)))

    placed: dict[str, list[DigestItem]] = {topic_id: [] for topic_id in topics}
    used: set[str] = set()
    by_key = {c.entry.key: c for c in candidates}
    for topic in subscriber.topics:
        if not topic.trending:
            continue
        pool: list[_Candidate] = []
        if not (topic.query or topic.about):  # any paper: walk the popular ones, stop at N
            counts[topic.id].matched = len(popular)
            for entry in popular:  # (how many more there were is not counted: a cut of 0)
                if len(pool) == topic.trending:
                    break
                if entry.key in used:
                    continue
                if entry.key in taken:
                    counts[topic.id].delivered += 1
                elif not _fresh(entry, since, first_digest):
                    counts[topic.id].older += 1
                else:
                    known = by_key.get(entry.key) or _Candidate(entry, (), ())
                    pool.append(_Candidate(known.entry, known.matches, (*known.ids, topic.id)))
        else:
            pool = [c for c in candidates if topic.id in c.ids and c.entry.key not in used]
            pool.sort(key=_by_popularity)
        for candidate in pool[: topic.trending]:
            used.add(candidate.entry.key)
            placed[topic.id].append(item(candidate, topic.id))
            for topic_id in candidate.ids:
                counts[topic_id].shown += 1
        counts[topic.id].cut += max(0, len(pool) - topic.trending)

    regular = [
        c
        for c in candidates
        if c.entry.key not in used and any(not topics[i].trending for i in c.ids)
    ]
    # Best first; ties broken by newest, then key, so the same inputs give the same digest.
    # Only the best max_items need an order: the rest are counted, not shown.
    chosen = heapq.nsmallest(max_items, regular, key=_best_first)
    kept = {id(c) for c in chosen}
    dropped = [c for c in regular if id(c) not in kept]
    for candidate in chosen:
        home = next(i for i in candidate.ids if not topics[i].trending)
        placed[home].append(item(candidate, home))
        for topic_id in candidate.ids:
            counts[topic_id].shown += 1
    for candidate in dropped:
        for topic_id in candidate.ids:
            if not topics[topic_id].trending:
                counts[topic_id].cut += 1

    result = tuple(counts[t.id].freeze(t) for t in subscriber.topics)
    updated_entries = tuple(updated)
    sections = tuple(
        Section(topic=topic, items=tuple(placed[topic.id]))
        for topic in subscriber.topics
        if placed[topic.id]
    )
    if not sections and not updated_entries:
        return Composition(subscriber, None, result, first_digest)
    digest = Digest(
        subscriber=subscriber,
        sections=sections,
        created=now,
        updated=updated_entries,
        omitted=len(dropped),
        overflow=tuple(
            item(c, next(i for i in c.ids if not topics[i].trending), spans=False) for c in dropped
        ),
    )
    return Composition(subscriber, digest, result, first_digest)


@dataclass(slots=True)
class _Count:
    matched: int = 0
    shown: int = 0
    older: int = 0
    delivered: int = 0
    cut: int = 0

    def freeze(self, topic: Topic) -> TopicCount:
        return TopicCount(topic, self.matched, self.shown, self.older, self.delivered, self.cut)


@dataclass(frozen=True, slots=True)
class _Candidate:
    entry: Entry
    matches: tuple[TopicMatch, ...]
    """The subscriber's topics that matched it, best first."""
    ids: tuple[str, ...]
    """Those topics' ids, then every trending topic that takes any paper."""

    @property
    def score(self) -> float:
        return self.matches[0].score if self.matches else 0.0

    def item(self, topics: Mapping[str, Topic], *, first: str, spans: bool = True) -> DigestItem:
        """The paper as shown under topic ``first``, naming every topic it matched.

        Without ``spans`` the highlights are left out: a paper ``max_items`` dropped is
        only listed (title, topics, words) and never rendered with its text."""
        ids = [first, *(i for i in self.ids if i != first)]
        if not spans:
            return DigestItem(
                entry=self.entry,
                score=self.score,
                topics=tuple(topics[i].title for i in ids),
                terms=tuple(dict.fromkeys(term for m in self.matches for term in m.terms)),
            )
        return DigestItem(
            entry=self.entry,
            score=self.score,
            topics=tuple(topics[i].title for i in ids),
            terms=tuple(dict.fromkeys(term for m in self.matches for term in m.terms)),
            title_spans=merge_spans(s for m in self.matches for s in m.title_spans),
            abstract_spans=merge_spans(s for m in self.matches for s in m.abstract_spans),
        )


def _best_first(candidate: _Candidate) -> tuple[float, float, str]:
    return (-candidate.score, -candidate.entry.published.timestamp(), candidate.entry.key)


def _fresh(entry: Entry, since: datetime, first_digest: bool) -> bool:
    """New to the subscriber: for a first digest, published since the lookback; later,
    published or first seen strictly after the previous digest (whatever was known when
    it was composed had its turn)."""
    if first_digest:
        return entry.published >= since
    return entry.published > since or (entry.first_seen is not None and entry.first_seen > since)


def popularity_order(entries: Iterable[Entry]) -> list[Entry]:
    """Most upvotes first; papers without a figure after those with one; then newest."""
    return sorted(entries, key=lambda e: _by_popularity(_Candidate(e, (), ())))


def _by_popularity(candidate: _Candidate) -> tuple[bool, int, float, str]:
    """Most upvotes first; papers without a figure after those with one; then newest."""
    popularity = candidate.entry.popularity
    return (
        popularity is None,
        -(popularity or 0),
        -candidate.entry.published.timestamp(),
        candidate.entry.key,
    )
