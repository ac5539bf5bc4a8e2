"""Rendering benchmark: the fast Renderer against the naive path, measured in the same run.

The workload is the hard case for sharing: 2,000 distinct topics, each subscriber picking 3
by a Zipf-like law over them — a head of library topics many subscribers share and a long
tail of personal topics hardly anyone else has — so the same paper comes with different
highlights and "Matched: …" lines from one subscriber to the next. 2,000 papers; a topic
matches 6–30 of them; a digest holds up to 25 papers (the rest are counted as left out) and
every link (unsubscribe, manage, view in browser, all matches). One library topic is a
trending section.

Default: 10,000 subscribers; quick: 1,000. Each digest is rendered and turned into MIME
bytes that go to a null sink. The naive path (per subscriber: Jinja2 render, premailer,
``EmailMessage``) is timed on the first subscribers of the same stream, since it is about
two orders of magnitude slower. Peak memory of the fast path is traced at two subscriber
counts, both large enough for the render caches to be full.

Run: ``.venv/bin/python -m bench --only render [--quick]``.
"""

from __future__ import annotations

import json
import random
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

from bench.common import Row, row
from newsletter.records import (
    Digest,
    DigestItem,
    DigestLinks,
    Entry,
    Section,
    Subscriber,
    Topic,
)
from newsletter.render import Renderer, RenderSettings
from newsletter.render.naive import message_naive, render_naive

PAPERS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "papers.json"
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
TOPICS = 2_000
LIBRARY = 200
"""The first topics by popularity are the shared library; the rest are personal."""
ENTRIES = 2_000
TOPICS_PER_SUBSCRIBER = 3
MAX_ITEMS = 25
ZIPF = 1.0
WORDS = (
    "learning", "model", "models", "data", "image", "images", "tasks", "training",
    "performance", "representations", "attention", "features", "method", "supervised",
    "similarity", "language", "framework", "results", "large", "novel",
)  # fmt: skip
SETTINGS = RenderSettings(
    title="Paper Digest",
    base_url="https://digest.example.org/",
    sender="Digest <d@example.org>",
    footer="Paper Digest, 1 Example Street, 12345 Exampletown",
)
BASE = "https://digest.example.org/"


def spans(text: str, word: str, limit: int = 6) -> tuple[tuple[int, int], ...]:
    """Where ``word`` occurs in ``text`` (case-insensitive), as the matcher reports it."""
    found = []
    lower = text.lower()
    start = lower.find(word)
    while start != -1 and len(found) < limit:
        found.append((start, start + len(word)))
        start = lower.find(word, start + 1)
    return tuple(found)


class World:
    """Papers, topics and what each topic matches: everything but the subscribers."""

    def __init__(self, seed: int = 7) -> None:
        papers = json.loads(PAPERS.read_text(encoding="utf-8"))
        rng = random.Random(seed)
        self.entries = [
            Entry(
                key=f"arxiv:2411.{i:05d}",
                title=papers[i % len(papers)]["title"],
                link=f"https://arxiv.org/abs/2411.{i:05d}",
                published=NOW - timedelta(hours=i % 48),
                abstract=papers[i % len(papers)]["abstract"],
                authors=tuple(f"Author {j}" for j in range(1 + i % 9)),
                categories=("cs.LG", "cs.CV")[: 1 + i % 2],
                feeds=("arxiv",) if i % 4 else ("hf-daily-papers",),
                popularity=(i * 37) % 500 if i % 3 == 0 else None,
                arxiv_id=f"2411.{i:05d}",
            )
            for i in range(ENTRIES)
        ]
        self.topics = [
            Topic(
                id=f"t{i}",
                title=f"Library topic {i}" if i < LIBRARY else f"My topic {i}",
                query=WORDS[i % len(WORDS)],
                trending=10 if i == 3 else None,
            )
            for i in range(TOPICS)
        ]
        popular = sorted(
            (e for e in self.entries if e.popularity is not None),
            key=lambda e: -(e.popularity or 0),
        )
        self.matches: list[list[Entry]] = []
        for topic in self.topics:
            if topic.trending:
                self.matches.append(popular[: topic.trending])
            else:
                self.matches.append(rng.sample(self.entries, rng.randint(6, 30)))
        weights = [1 / (rank + 1) ** ZIPF for rank in range(TOPICS)]
        self.cumulative = list(accumulate(weights))

    def digests(self, count: int, seed: int = 11) -> Iterator[tuple[Digest, DigestLinks]]:
        """Subscribers with 3 Zipf-chosen topics each, produced lazily (as compose would)."""
        rng = random.Random(seed)
        for i in range(count):
            picked: list[int] = []
            while len(picked) < TOPICS_PER_SUBSCRIBER:
                t = rng.choices(range(TOPICS), cum_weights=self.cumulative)[0]
                if t not in picked:
                    picked.append(t)
            topics = [self.topics[t] for t in picked]
            matched_by: dict[str, list[Topic]] = {}
            for t in picked:
                for entry in self.matches[t]:
                    matched_by.setdefault(entry.key, []).append(self.topics[t])
            seen: set[str] = set()
            sections = []
            room = MAX_ITEMS
            total = len(matched_by)
            for t in picked:
                items = []
                for entry in self.matches[t]:
                    if entry.key in seen or room == 0:
                        continue
                    seen.add(entry.key)
                    room -= 1
                    word = self.topics[t].query or ""
                    items.append(
                        DigestItem(
                            entry=entry,
                            score=1.0,
                            topics=tuple(tp.title for tp in matched_by[entry.key]),
                            terms=(word,),
                            title_spans=spans(entry.title, word),
                            abstract_spans=spans(entry.abstract, word),
                        )
                    )
                if items:
                    sections.append(Section(topic=self.topics[t], items=tuple(items)))
            subscriber = Subscriber(
                email=f"user{i}@example.com", topics=tuple(topics), schedule="daily"
            )
            digest = Digest(
                subscriber=subscriber,
                sections=tuple(sections),
                created=NOW,
                omitted=total - len(seen),
            )
            token = f"tok{i:06d}"
            links = DigestLinks(
                unsubscribe_url=f"{BASE}unsubscribe?token={token}",
                manage_url=f"{BASE}manage?token={token}",
                view_url=f"{BASE}d/2026-11-26/{token}",
                all_url=f"{BASE}d/2026-11-26/{token}/all",
            )
            yield digest, links


def fast_pass(world: World, count: int) -> float:
    """Digests per second through Renderer.render + Renderer.message into a null sink."""
    start = time.perf_counter()
    renderer = Renderer(SETTINGS, verify=False)
    sink = 0
    for i, (digest, links) in enumerate(world.digests(count)):
        rendered = renderer.render(digest, links)
        message = renderer.message(digest, rendered, message_id=f"<{i}@d.example.org>", date=NOW)
        sink += len(message.data)
    return count / (time.perf_counter() - start)


def naive_pass(world: World, count: int) -> float:
    """Digests per second through render_naive + EmailMessage serialisation."""
    start = time.perf_counter()
    sink = 0
    for i, (digest, links) in enumerate(world.digests(count)):
        rendered = render_naive(SETTINGS, digest, links)
        sink += len(message_naive(SETTINGS, digest, rendered, message_id=f"<{i}@x>", date=NOW))
    return count / (time.perf_counter() - start)


def peak_memory(world: World, count: int) -> float:
    """Peak traced memory (MiB) of a fast pass over ``count`` subscribers."""
    tracemalloc.start()
    fast_pass(world, count)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run(quick: bool) -> list[Row]:
    """Rows: fast vs naive throughput (same run), fast-path peak memory at two counts."""
    subscribers = 1_000 if quick else 10_000
    sample = 10 if quick else 40
    world = World()
    naive = naive_pass(world, sample)
    fast = fast_pass(world, subscribers)
    # Both counts past the point where the caches are full (about 900 subscribers here):
    # what grows with subscribers would show; the caches' bounded size does not.
    small, large = (1_000, 2_000) if quick else (1_000, 5_000)
    memory_small = peak_memory(world, small)
    memory_large = peak_memory(world, large)
    return [
        row(
            f"render+MIME digests/s ({subscribers} subscribers, {TOPICS} Zipf topics, "
            f"naive on {sample})",
            fast,
            naive,
            "digests/s",
        ),
        row(
            f"fast path peak memory: {large} vs {small} subscribers (should not grow)",
            memory_large,
            memory_small,
            "MiB",
            lower_is_better=True,
        ),
    ]


if __name__ == "__main__":
    for result in run("--quick" in sys.argv):
        print(json.dumps(result))
