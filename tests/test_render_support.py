"""Digests built by hand from records and the sample papers (shared by the render tests).

The sample papers are a copy of the seed data in ``tests/fixtures/papers.json``; tests never
read anything outside the repository.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from newsletter.records import Digest, DigestItem, DigestLinks, Entry, Section, Subscriber, Topic
from newsletter.render import RenderSettings

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://digest.example.org/u/tok3n-abc?list=papers&x=1"
MANAGE = "https://digest.example.org/manage/tok3n-abc"
VIEW = "https://digest.example.org/d/2026-11-26/tok3n-abc"
ALL = "https://digest.example.org/d/2026-11-26/tok3n-abc/all"
LINKS = DigestLinks(unsubscribe_url=UNSUBSCRIBE)
"""Only the unsubscribe link (no web archive, no manage page)."""
ALL_LINKS = DigestLinks(unsubscribe_url=UNSUBSCRIBE, manage_url=MANAGE, view_url=VIEW, all_url=ALL)

AUTHORS = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
)


@cache
def papers() -> list[dict[str, object]]:
    data = json.loads((FIXTURES / "papers.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def settings(**overrides: object) -> RenderSettings:
    values: dict[str, object] = {
        "title": "Paper Digest",
        "base_url": "https://digest.example.org/",
        "sender": "Paper Digest <digest@example.org>",
    }
    values.update(overrides)
    return RenderSettings(**values)  # type: ignore[arg-type]


def entry(index: int, **overrides: object) -> Entry:
    """Entry ``index`` of the sample papers, with made-up ids, authors and links."""
    paper = papers()[index % len(papers())]
    abstract = str(paper["abstract"])
    links = [str(link) for link in paper.get("links", [])]  # type: ignore[attr-defined]
    if links and "github.com" in links[0]:
        abstract += f" Code is available at {links[0]}."
    arxiv_id = f"2403.{10000 + index:05d}"
    values: dict[str, object] = {
        "key": f"arxiv:{arxiv_id}",
        "title": str(paper["title"]),
        "link": f"https://arxiv.org/abs/{arxiv_id}",
        "published": NOW - timedelta(days=1 + index % 3),
        "abstract": abstract,
        "authors": AUTHORS[: 1 + index % len(AUTHORS)],
        "categories": ("cs.CV", "cs.LG")[: 1 + index % 2],
        "feeds": ("arxiv-cs",) if index % 2 else ("hf-daily",),
        "popularity": 10 + index if index % 2 == 0 else None,
        "arxiv_id": arxiv_id,
        "version": 1,
    }
    values.update(overrides)
    return Entry(**values)  # type: ignore[arg-type]


def spans_of(text: str, words: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Where the given words occur (case-insensitive), as the matcher would report them."""
    found: list[tuple[int, int]] = []
    for word in words:
        for m in re.finditer(rf"\b{re.escape(word)}\w*", text, re.I):
            found.append((m.start(), m.end()))
    return tuple(sorted(found))


def item(e: Entry, topics: tuple[str, ...], words: tuple[str, ...] = ()) -> DigestItem:
    return DigestItem(
        entry=e,
        score=1.0,
        topics=topics,
        terms=words,
        title_spans=spans_of(e.title, words),
        abstract_spans=spans_of(e.abstract, words),
    )


TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "Vision transformers": ("transformer", "attention"),
    "Self-supervised learning": ("self-supervised", "contrastive"),
    "Segmentation": ("segmentation", "mask"),
}


def digest(
    count: int = 12,
    *,
    start: int = 0,
    email: str = "reader@example.com",
    name: str | None = "Rea Der",
    entries: list[Entry] | None = None,
    updated: tuple[Entry, ...] = (),
    omitted: int = 0,
) -> Digest:
    """A digest of ``count`` sample papers spread over three topics."""
    topics = tuple(
        Topic(id=f"t{i}", title=title, query=" OR ".join(words))
        for i, (title, words) in enumerate(TOPIC_WORDS.items())
    )
    chosen = entries if entries is not None else [entry(start + i) for i in range(count)]
    sections: list[Section] = []
    for i, topic in enumerate(topics):
        words = TOPIC_WORDS[topic.title]
        members = chosen[i :: len(topics)]
        if members:
            items = tuple(item(e, (topic.title,), words) for e in members)
            sections.append(Section(topic=topic, items=items))
    subscriber = Subscriber(email=email, topics=topics, schedule="daily", name=name)
    return Digest(
        subscriber=subscriber,
        sections=tuple(sections),
        created=NOW,
        updated=updated,
        omitted=omitted,
    )


def longest_entries(count: int) -> list[Entry]:
    """The ``count`` sample papers with the longest abstracts."""
    order = sorted(range(len(papers())), key=lambda i: -len(str(papers()[i]["abstract"])))
    return [entry(i) for i in order[:count]]


def digest_of(*items: DigestItem, email: str = "reader@example.com") -> Digest:
    """A one-section digest holding exactly ``items``."""
    topic = Topic(id="t0", title="Vision transformers", query="transformer")
    subscriber = Subscriber(email=email, topics=(topic,), schedule="daily")
    return Digest(subscriber=subscriber, sections=(Section(topic=topic, items=items),), created=NOW)
