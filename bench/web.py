"""Web benchmark: the day's papers page for a day of 1,000 papers, over real HTTP.

The store holds 5 days of 1,000 papers each (real abstracts, upvotes, authors); the app is
the one ``serve`` runs, on waitress on a loopback port, asked through one keep-alive
connection. Each figure is the 95th percentile of its requests, next to the floor measured
in the same run: ``/healthz``, which does no work (the cost of HTTP, waitress and Flask).

- day page after one paper changed (new upvotes before every request): the page is built
  again, only that paper's card is rendered — what a visitor waits for after a fetch;
- day page as usually served (in memory under its ETag), and a conditional GET (304);
- day page with every cache off: what the first visitor after a restart waits for;
- a search over the 5,000 newest papers (kept in memory after the first search): two
  common words (the matcher ranks its limit of 200 candidates) and a phrase;
- the Atom feed of the last 3 days, built each time and as usually served, and a topic
  feed (a week of papers) built each time.

Run: ``.venv/bin/python -m bench.web [--quick]``.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import SEED, Row, row, vocabulary
from bench.e2e import fresh_database, postgres_available
from newsletter.demo import sample_papers
from newsletter.records import Entry, Topic
from newsletter.store import EntryWrite, Store
from newsletter.web import Site, create_app, running

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
PER_DAY = 1_000
DAYS = 5
SECRET = "bench-secret-0123456789abcdef"


class Clock:
    def __call__(self) -> datetime:
        return NOW


def papers() -> list[Entry]:
    """``DAYS`` days of ``PER_DAY`` papers, made from the sample abstracts."""
    rng = random.Random(SEED + 3)
    samples = sample_papers()
    words = vocabulary()[:300]
    out = []
    for day in range(DAYS):
        for i in range(PER_DAY):
            n = day * PER_DAY + i
            sample = samples[n % len(samples)]
            arxiv_id = f"2611.{n:05d}"
            published = NOW - timedelta(days=day, minutes=rng.randrange(14 * 60))
            out.append(
                Entry(
                    key=f"arxiv:{arxiv_id}",
                    title=f"{sample['title']} ({' '.join(rng.sample(words, 2))})",
                    link=f"https://huggingface.co/papers/{arxiv_id}",
                    published=published,
                    abstract=sample["abstract"],
                    authors=tuple(
                        f"Author {rng.randrange(5000)}" for _ in range(rng.randint(1, 9))
                    ),
                    categories=tuple(
                        rng.sample(["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"], 2)
                    ),
                    feeds=("arxiv", "hf-daily"),
                    popularity=int(rng.lognormvariate(2.0, 1.2)) if rng.random() < 0.6 else None,
                    arxiv_id=arxiv_id,
                    first_seen=published,
                )
            )
    return out


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] * 1000


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(
    request: Callable[[], httpx.Response],
    count: int,
    expect: int,
    before: Callable[[int], None] | None = None,
) -> list[float]:
    """Seconds per request; ``before(i)`` runs untimed ahead of request ``i``."""
    for i in range(3):  # warm up connections and code paths
        if before is not None:
            before(-1 - i)
        request()
    times = []
    for i in range(count):
        if before is not None:
            before(i)
        started = time.perf_counter()
        response = request()
        times.append(time.perf_counter() - started)
        if response.status_code != expect:
            raise RuntimeError(f"expected {expect}, got {response.status_code}")
    return times


def make_app(store: Store, cache_bytes: int) -> object:
    site = Site(
        store=store,
        now=Clock(),
        title="Bench Digest",
        base_url="https://bench.example.org/",
        timezone="UTC",
        page_cache_bytes=cache_bytes,
        card_cache_bytes=cache_bytes,
        search_rate="100000 per minute",
        topics={"graphs": Topic(id="graphs", title="Graphs", query="graph* OR GNN")},
    )
    return create_app(secret=SECRET, suppressions=store, now=Clock(), title="Bench", site=site)


def measure(backend: str, store: Store, today: list[Entry], count: int) -> list[Row]:
    rows: list[Row] = []

    def upvote(i: int) -> None:
        """A new upvote count for one of today's papers (as a fetch would bring)."""
        entry = today[i % len(today)]
        stored = store.read_entries([entry.key])[entry.key]
        votes = (stored.entry.popularity or 0) + 1
        new = replace(stored.entry, popularity=votes)
        assert store.write_entries([EntryWrite(new, stored.revision)], now=NOW) == []

    with (
        running(make_app(store, 0)) as cold_url,
        running(make_app(store, 32 * 1024 * 1024)) as warm_url,
        httpx.Client(base_url=cold_url, timeout=120) as cold,
        httpx.Client(base_url=warm_url, timeout=120) as warm,
    ):
        size = len(warm.get("/").content) // 1024
        tag = warm.get("/").headers["etag"]
        floor_times = timed(lambda: warm.get("/healthz"), count, 200)
        floor, floor_median = p95(floor_times), p50(floor_times)
        day = f"day of 1,000 papers ({size} KB)"
        cases: list[tuple[str, httpx.Client, str, dict[str, str], int, Any]] = [
            (f"{day}, one paper changed before each", warm, "/", {}, 200, upvote),
            (f"{day}, unchanged (page in memory)", warm, "/", {}, 200, None),
            (f"{day}, conditional GET (304)", warm, "/", {"If-None-Match": tag}, 304, None),
            (f"{day}, every cache off (first after a restart)", cold, "/", {}, 200, None),
            ("search of the 5,000 newest papers, two common words", cold,
             "/search?q=transformer%20OR%20graph", {}, 200, None),
            ("search of the 5,000 newest papers, a phrase", cold,
             "/search?q=%22person%20search%22", {}, 200, None),
            ("topic feed of the last 7 days, built each time", cold, "/topics/graphs.atom",
             {}, 200, None),
            ("Atom feed of the last 3 days, built each time", cold, "/feed.atom", {}, 200, None),
            ("Atom feed of the last 3 days, in memory", warm, "/feed.atom", {}, 200, None),
        ]  # fmt: skip
        for name, client, path, headers, status, before in cases:
            print(f"  web {backend}: {name}…", file=sys.stderr)
            if status == 304:
                tag = client.get(path).headers["etag"]
                headers = {"If-None-Match": tag}

            def request(
                c: httpx.Client = client, p: str = path, h: dict[str, str] = headers
            ) -> httpx.Response:
                return c.get(p, headers=h)

            runs = count if client is warm else max(20, count // 4)
            times = timed(request, runs, status, before)
            label = f"web {backend}: {name}, p95 vs /healthz"
            rows.append(row(label, p95(times), floor, "ms", lower_is_better=True))
            if name.startswith("day"):  # the median too: this machine's p95 is noisy
                label = f"web {backend}: {name}, median vs /healthz"
                rows.append(row(label, p50(times), floor_median, "ms", lower_is_better=True))
    return rows


def one_backend(backend: str, count: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as url:
        store = Store.open(url)
        try:
            entries = papers()
            for start in range(0, len(entries), 500):
                store.write_entries([EntryWrite(e) for e in entries[start : start + 500]], now=NOW)
            return measure(backend, store, entries[:PER_DAY], count)
        finally:
            store.close()


def run(quick: bool) -> list[Row]:
    count = 60 if quick else 200
    backends = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    rows: list[Row] = []
    for backend in backends:
        rows += one_backend(backend, count)
    return rows


if __name__ == "__main__":
    from bench.common import print_table

    print_table(run("--quick" in sys.argv))
