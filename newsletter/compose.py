"""Choosing what goes into one subscriber's digest. Pure: records in, a Digest (or None) out."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
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
) -> Composition:
    """Build the digest, or None when there is nothing new (no empty mails), and count why
    each topic's matches did or did not make it.

    An entry is a candidate when it matches one of the subscriber's topics, is not
    already in one of their digests (``taken``), and is new: for a first digest,
    published since ``since`` (the lookback); later, published or first seen after the
    previous digest. Matches beyond ``max_items`` are dropped, not carried over, so a
    digest never fills up with a backlog (the digest says how many: ``Digest.omitted``).
    It appears once, in the section of its best-scoring topic, and lists every topic it
    matched.
    """
    order = {topic.id: index for index, topic in enumerate(subscriber.topics)}
    titles = {topic.id: topic.title for topic in subscriber.topics}
    tally = {topic.id: [0, 0, 0, 0] for topic in subscriber.topics}  # matched older taken in
    scored: list[tuple[float, datetime, str, DigestItem, str, tuple[str, ...]]] = []
    for entry in entries:
        found = matches.get(entry.key, {})
        mine = [m for topic_id, m in found.items() if topic_id in order]
        if not mine:
            continue
        ids = tuple(m.topic_id for m in mine)
        for topic_id in ids:
            tally[topic_id][0] += 1
        if entry.key in taken:
            for topic_id in ids:
                tally[topic_id][2] += 1
            continue
        if first_digest:
            fresh = entry.published >= since
        else:  # strictly after: whatever was known when the last digest was composed had its turn
            fresh = entry.published > since or (
                entry.first_seen is not None and entry.first_seen > since
            )
        if not fresh:
            for topic_id in ids:
                tally[topic_id][1] += 1
            continue
        mine.sort(key=lambda m: (-m.score, order[m.topic_id]))
        terms = tuple(dict.fromkeys(term for m in mine for term in m.terms))
        item = DigestItem(
            entry=entry,
            score=mine[0].score,
            topics=tuple(titles[m.topic_id] for m in mine),
            terms=terms,
            title_spans=merge_spans(s for m in mine for s in m.title_spans),
            abstract_spans=merge_spans(s for m in mine for s in m.abstract_spans),
        )
        scored.append((item.score, entry.published, entry.key, item, mine[0].topic_id, ids))
    # Best first; ties broken by newest, then key, so the same inputs give the same digest.
    scored.sort(key=lambda row: (-row[0], -row[1].timestamp(), row[2]))
    chosen, dropped = scored[:max_items], scored[max_items:]
    for row in chosen:
        for topic_id in row[5]:
            tally[topic_id][3] += 1
    cut: dict[str, int] = {}
    for row in dropped:
        for topic_id in row[5]:
            cut[topic_id] = cut.get(topic_id, 0) + 1
    counts = tuple(
        TopicCount(
            topic=topic,
            matched=tally[topic.id][0],
            older=tally[topic.id][1],
            delivered=tally[topic.id][2],
            shown=tally[topic.id][3],
            cut=cut.get(topic.id, 0),
        )
        for topic in subscriber.topics
    )
    updated_entries = tuple(updated)
    if not chosen and not updated_entries:
        return Composition(subscriber, None, counts, first_digest)
    sections = []
    for topic in subscriber.topics:
        items = tuple(row[3] for row in chosen if row[4] == topic.id)
        if items:
            sections.append(Section(topic=topic, items=items))
    digest = Digest(
        subscriber=subscriber,
        sections=tuple(sections),
        created=now,
        updated=updated_entries,
        omitted=len(dropped),
        overflow=tuple(row[3] for row in dropped),
    )
    return Composition(subscriber, digest, counts, first_digest)
