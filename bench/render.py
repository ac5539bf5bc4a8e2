"""Rendering benchmark: the fast Renderer against the naive path, in the same run.

10,000 subscribers (quick: 1,000), 200 distinct topics, 3 topics per subscriber, 2,000
entries; each digest is rendered and turned into MIME bytes that go to a null sink.
The naive path (per subscriber: Jinja2 render, premailer.transform, EmailMessage) is timed
on a sample of the same subscribers, since it is ~two orders of magnitude slower.

Run: ``.venv/bin/python -m bench.render [--quick]``.
"""

from __future__ import annotations

import json
import random
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsletter.records import Digest, DigestItem, Entry, Section, Subscriber, Topic
from newsletter.render import Renderer, RenderSettings
from newsletter.render.naive import message_naive, render_naive

PAPERS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "papers.json"
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
TOPICS = 200
ENTRIES = 2_000
PER_TOPIC = 8
SETTINGS = RenderSettings(
    title="Paper Digest", base_url="https://digest.example.org/", sender="Digest <d@example.org>"
)


def make_world(seed: int = 7) -> tuple[list[Topic], list[list[DigestItem]]]:
    """200 topics; each matches ``PER_TOPIC`` of 2,000 entries (with highlight spans)."""
    papers = json.loads(PAPERS.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    entries = []
    for i in range(ENTRIES):
        paper = papers[i % len(papers)]
        entries.append(
            Entry(
                key=f"arxiv:2411.{i:05d}",
                title=paper["title"],
                link=f"https://arxiv.org/abs/2411.{i:05d}",
                published=NOW - timedelta(hours=i % 48),
                abstract=paper["abstract"],
                authors=tuple(f"Author {j}" for j in range(1 + i % 9)),
                categories=("cs.LG", "cs.CV")[: 1 + i % 2],
                feeds=("arxiv",),
                popularity=i % 50 if i % 3 == 0 else None,
                arxiv_id=f"2411.{i:05d}",
            )
        )
    topics = [Topic(id=f"t{i}", title=f"Topic {i}", query=f"q{i}") for i in range(TOPICS)]
    matches: list[list[DigestItem]] = []
    for topic in topics:
        chosen = rng.sample(entries, PER_TOPIC)
        word = rng.choice(["learning", "model", "image", "the", "data"])
        items = []
        for entry in chosen:
            spans = []
            start = entry.abstract.find(word)
            while start != -1 and len(spans) < 6:
                spans.append((start, start + len(word)))
                start = entry.abstract.find(word, start + 1)
            items.append(
                DigestItem(
                    entry=entry,
                    score=1.0,
                    topics=(topic.title,),
                    terms=(word,),
                    abstract_spans=tuple(spans),
                )
            )
        matches.append(items)
    return topics, matches


def digests(
    count: int, topics: list[Topic], matches: list[list[DigestItem]], seed: int = 11
) -> Iterator[Digest]:
    """Subscribers with 3 random topics each, produced lazily (as compose would)."""
    rng = random.Random(seed)
    for i in range(count):
        picked = rng.sample(range(len(topics)), 3)
        subscriber = Subscriber(
            email=f"user{i}@example.com",
            topics=tuple(topics[t] for t in picked),
            schedule="daily",
        )
        seen: set[str] = set()
        sections = []
        for t in picked:
            items = tuple(it for it in matches[t] if it.entry.key not in seen)
            seen.update(it.entry.key for it in items)
            if items:
                sections.append(Section(topic=topics[t], items=items))
        yield Digest(subscriber=subscriber, sections=tuple(sections), created=NOW)


def fast_pass(count: int, topics: list[Topic], matches: list[list[DigestItem]]) -> float:
    """Digests per second through Renderer.render + Renderer.message into a null sink."""
    renderer = Renderer(SETTINGS, verify=False)
    sink = 0
    start = time.perf_counter()
    for i, digest in enumerate(digests(count, topics, matches)):
        url = f"https://digest.example.org/u/{i}"
        rendered = renderer.render(digest, unsubscribe_url=url)
        message = renderer.message(
            digest, rendered, message_id=f"<{i}@digest.example.org>", unsubscribe_url=url, date=NOW
        )
        sink += len(message.data)
    return count / (time.perf_counter() - start)


def naive_pass(count: int, topics: list[Topic], matches: list[list[DigestItem]]) -> float:
    """Digests per second through render_naive + EmailMessage serialisation."""
    sink = 0
    start = time.perf_counter()
    for i, digest in enumerate(digests(count, topics, matches)):
        url = f"https://digest.example.org/u/{i}"
        rendered = render_naive(SETTINGS, digest, unsubscribe_url=url)
        sink += len(
            message_naive(
                SETTINGS, digest, rendered, message_id=f"<{i}@x>", unsubscribe_url=url, date=NOW
            )
        )
    return count / (time.perf_counter() - start)


def peak_memory(count: int, topics: list[Topic], matches: list[list[DigestItem]]) -> float:
    """Peak traced memory (MiB) of a fast pass over ``count`` subscribers."""
    tracemalloc.start()
    fast_pass(count, topics, matches)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run(quick: bool) -> list[dict[str, object]]:
    """Rows: fast vs naive throughput, and fast-path peak memory at two subscriber counts."""
    subscribers = 1_000 if quick else 10_000
    sample = 10 if quick else 40
    topics, matches = make_world()
    fast = fast_pass(subscribers, topics, matches)
    naive = naive_pass(sample, topics, matches)
    small = peak_memory(subscribers // 10, topics, matches)
    large = peak_memory(subscribers // 2 if quick else subscribers // 5, topics, matches)
    return [
        {
            "name": f"render+MIME digests/s ({subscribers} subscribers, naive on {sample})",
            "value": round(fast, 1),
            "baseline": round(naive, 2),
            "unit": "digests/s",
            "ratio": round(fast / naive, 1),
        },
        {
            "name": "fast path peak memory: N/10 vs more subscribers (should not grow)",
            "value": round(large, 1),
            "baseline": round(small, 1),
            "unit": "MiB",
            "ratio": round(large / small, 2),
        },
    ]


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(json.dumps(row))
