"""Shared by the benchmarks: a deterministic workload and result rows.

The workload is built from the sample papers' own vocabulary with a fixed seed, so every
run (and every machine) measures the same feed and the same subscribers.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from newsletter.demo import sample_papers

Row = dict[str, Any]
SEED = 20261126
RESERVED = {"and", "or", "not", "near", "title", "abstract", "author", "category"}


def row(
    name: str, value: float, baseline: float, unit: str, *, lower_is_better: bool = False
) -> Row:
    """One result next to its baseline from the same run; ratio > 1 always means better."""
    if lower_is_better:
        ratio = baseline / value if value else float("inf")
    else:
        ratio = value / baseline if baseline else float("inf")
    return {
        "name": name,
        "value": round(value, 2),
        "baseline": round(baseline, 2),
        "unit": unit,
        "ratio": round(ratio, 2),
    }


# -- workload --------------------------------------------------------------------------------


def vocabulary() -> list[str]:
    """Words of the sample papers, most frequent first (ties broken alphabetically)."""
    counts: dict[str, int] = {}
    for paper in sample_papers():
        for word in re.findall(r"[a-z]{5,}", f"{paper['title']} {paper['abstract']}".lower()):
            if word not in RESERVED:
                counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def feed_xml(entries: int, now: datetime, seed: int = SEED) -> str:
    """An Atom feed of ``entries`` synthetic papers published over the last two days."""
    rng = random.Random(seed)
    words = vocabulary()
    common = words[:400]
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        "<title>Benchmark papers</title><id>urn:bench:papers</id>",
        f"<updated>{now.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>",
    ]
    for i in range(entries):
        title = " ".join(rng.choices(common, k=8)).capitalize()
        abstract = " ".join(rng.choices(words[:2000], k=120)) + "."
        published = (now - timedelta(minutes=7 * i % 2880)).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(
            f"<entry><title>{escape(title)}</title><id>urn:bench:paper:{i}</id>"
            f'<link rel="alternate" href="https://papers.example.org/{i}"/>'
            f"<published>{published}</published><updated>{published}</updated>"
            f"<summary>{escape(abstract)}</summary></entry>"
        )
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


def topic_queries(count: int, seed: int = SEED) -> list[str]:
    """``count`` distinct queries over the vocabulary, of the shapes people write."""
    rng = random.Random(seed + 1)
    words = vocabulary()[:600]
    seen: dict[str, None] = {}
    while len(seen) < count:
        a, b, c = rng.sample(words, 3)
        shape = rng.randrange(3)
        query = (f"{a} AND {b}", f"{a} OR {b}", f'"{a} {b}" OR {c}')[shape]
        seen.setdefault(query, None)
    return list(seen)


@dataclass(frozen=True)
class Workload:
    root: Path
    config: Path
    subscribers: int


def write_project(
    root: Path,
    *,
    subscribers: int,
    entries: int,
    topics: int,
    now: datetime,
    database: str = "sqlite:///state/bench.db",
    topics_each: int | None = None,
    max_items: int = 20,
) -> Workload:
    """A project folder: newsletter.yaml, subscribers.yaml (1-3 topics each, or exactly
    ``topics_each``) and a feed file."""
    rng = random.Random(SEED + 2)
    config_dir = root / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "papers.atom").write_text(feed_xml(entries, now), encoding="utf-8")
    (config_dir / "newsletter.yaml").write_text(
        "title: Bench Digest\n"
        "sender: Bench Digest <digest@bench.example.org>\n"
        "base_url: https://bench.example.org/\n"
        f"database: {database}\n"
        "feeds:\n  - name: papers\n    url: papers.atom\n"
        'schedules:\n  daily: "0 7 * * *"\n'
        f"digest:\n  max_items: {max_items}\n  lookback_days: 7\n",
        encoding="utf-8",
    )
    queries = topic_queries(topics)
    lines = ["topics:"]
    for i, query in enumerate(queries):
        lines += [f"  t{i}:", f"    title: Topic {i}", f"    query: '{query}'"]
    lines.append("subscribers:")
    for i in range(subscribers):
        if topics_each:
            chosen = sorted(f"t{i}" for i in rng.sample(range(topics), topics_each))
        else:
            chosen = sorted({f"t{rng.randrange(topics)}" for _ in range(rng.randint(1, 3))})
        lines += [
            f"  - email: reader{i}@bench.example.org",
            "    schedule: daily",
            f"    topics: [{', '.join(chosen)}]",
        ]
    (config_dir / "subscribers.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Workload(root=root, config=config_dir / "newsletter.yaml", subscribers=subscribers)


# -- output ------------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    width = max([len(r["name"]) for r in rows] + [10])
    print(f"{'ratio':>8}  {'value':>12}  {'baseline':>12}  {'unit':<10}  {'benchmark':<{width}}")
    for r in rows:
        print(
            f"{r['ratio']:>7}x  {r['value']:>12}  {r['baseline']:>12}  {r['unit']:<10}  {r['name']}"
        )


def write_json(rows: list[Row], path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")
