"""Choosing what goes into one subscriber's digest. Pure: records in, a Digest (or None) out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from newsletter.records import Digest, DigestItem, Entry, Section, Span, Subscriber, TopicMatch


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sorted, non-overlapping spans (two topics may highlight overlapping words)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def compose(
    subscriber: Subscriber,
    entries: Iterable[Entry],
    matches: Mapping[str, Mapping[str, TopicMatch]],
    *,
    taken: set[str],
    since: datetime,
    first_digest: bool,
    max_items: int,
    now: datetime,
    updated: Iterable[Entry] = (),
) -> Digest | None:
    """Build the digest, or None when there is nothing new (no empty mails).

    An entry is a candidate when it matches one of the subscriber's topics, is not
    already in one of their digests (``taken``), and is new: for a first digest,
    published since ``since`` (the lookback); later, published or first seen after the
    previous digest. Matches beyond ``max_items`` are dropped, not carried over, so a
    digest never fills up with a backlog. It appears once, in the section
    of its best-scoring topic, and lists every topic it matched.
    """
    order = {topic.id: index for index, topic in enumerate(subscriber.topics)}
    titles = {topic.id: topic.title for topic in subscriber.topics}
    scored: list[tuple[float, datetime, str, DigestItem, str]] = []
    for entry in entries:
        if entry.key in taken:
            continue
        if first_digest:
            fresh = entry.published >= since
        else:  # strictly after: whatever was known when the last digest was composed had its turn
            fresh = entry.published > since or (
                entry.first_seen is not None and entry.first_seen > since
            )
        if not fresh:
            continue
        found = matches.get(entry.key, {})
        mine = [m for topic_id, m in found.items() if topic_id in order]
        if not mine:
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
        scored.append((item.score, entry.published, entry.key, item, mine[0].topic_id))
    # Best first; ties broken by newest, then key, so the same inputs give the same digest.
    scored.sort(key=lambda row: (-row[0], -row[1].timestamp(), row[2]))
    chosen = scored[:max_items]
    updated_entries = tuple(updated)
    if not chosen and not updated_entries:
        return None
    sections = []
    for topic in subscriber.topics:
        items = tuple(row[3] for row in chosen if row[4] == topic.id)
        if items:
            sections.append(Section(topic=topic, items=items))
    return Digest(
        subscriber=subscriber, sections=tuple(sections), created=now, updated=updated_entries
    )
