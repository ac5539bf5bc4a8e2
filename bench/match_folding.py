"""Plural folding (the default) against Snowball stemming (the old default), in one run.

* How many real papers a few plain-word queries and the sample config's topics catch
  either way: every arXiv capture in tests/fixtures/real plus the 80 seed papers, parsed
  by the project's own parser.
* Keyword precision and recall on the labelled seed set of ``bench/match.py``.

Run: ``python -m bench --only match`` (part of the match suite).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.match import Matcher
from newsletter.records import Entry, Stemming, Topic
from newsletter.sources import FeedSpec, parse_document

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
NOW = datetime(2026, 11, 26, tzinfo=UTC)
CONTENT_TYPES = {".xml": "application/rss+xml", ".atom": "application/atom+xml"}

QUERIES = [
    "transformer",
    "LLM",
    "LLMs",
    "sequencing",
    "reasoning",
    "generation",
    "evaluation",
    "efficient",
    # the topics of config/subscribers.yaml
    '(transformer OR "self-attention") AND (vision OR image OR visual)',
    'self-supervised OR "contrastive learning"',
    'speech OR TTS OR "text-to-speech"',
    "recommendation OR recommender",
    'LLM OR "language model"',
]


def real_papers() -> list[Entry]:
    """Every arXiv capture of tests/fixtures/real, then the seed papers."""
    entries: list[Entry] = []
    for path in sorted((FIXTURES / "real").glob("arxiv-*")):
        spec = FeedSpec(name=path.stem, url=f"https://rss.arxiv.org/{path.name}", type="arxiv")
        result = parse_document(
            path.read_bytes(),
            content_type=CONTENT_TYPES.get(path.suffix),
            location=spec.url,
            spec=spec,
            now=NOW,
        )
        entries.extend(result.entries)
    papers = json.loads((FIXTURES / "papers.json").read_text(encoding="utf-8"))
    entries += [
        Entry(key=f"seed:{i}", title=p["title"], link="", published=NOW, abstract=p["abstract"])
        for i, p in enumerate(papers)
    ]
    return entries


def counts(entries: list[Entry], stemming: Stemming) -> dict[str, int]:
    topics = [Topic(id=q, title=q, query=q, stemming=stemming) for q in QUERIES]
    result = Matcher(topics).match(entries)
    return {q: sum(1 for found in result.values() if q in found) for q in QUERIES}


def run() -> list[dict[str, Any]]:
    from bench.match import LABELLED_TOPICS, _papers, _precision_recall

    entries = real_papers()
    plural, snowball = counts(entries, "plural"), counts(entries, "snowball")
    seeds = sum(1 for e in entries if e.key.startswith("seed:"))
    corpus = f"{len(entries)} real papers ({len(entries) - seeds} arXiv captures + {seeds} seed)"
    rows = [
        {
            "name": f"papers matched by `{q}` among {corpus}, plural folding (baseline: snowball)",
            "value": plural[q],
            "baseline": snowball[q],
            "unit": "papers",
            "ratio": round(plural[q] / snowball[q], 2) if snowball[q] else None,
        }
        for q in QUERIES
    ]
    seed = [
        Entry(key=str(i), title=p["title"], link="", published=NOW, abstract=p["abstract"])
        for i, p in enumerate(_papers())
    ]
    wanted = {(name, i) for _, _, name, rel in LABELLED_TOPICS for i in rel}
    measured: dict[str, tuple[float, float]] = {}
    for stemming in ("plural", "snowball"):
        topics = [
            Topic(id=n, title=n, query=q, stemming=stemming) for _, q, n, _ in LABELLED_TOPICS
        ]
        result = Matcher(topics).match(seed)
        found = {(tid, int(key)) for key, matches in result.items() for tid in matches}
        measured[stemming] = _precision_recall(found, wanted)
    label = f"{len(LABELLED_TOPICS)} topics x {len(seed)} seed papers"
    for index, what in enumerate(("precision", "recall")):
        value, baseline = measured["plural"][index], measured["snowball"][index]
        rows.append(
            {
                "name": f"topic {what}, keyword only, plural folding "
                f"(baseline: snowball) ({label})",
                "value": round(value, 3),
                "baseline": round(baseline, 3),
                "unit": what,
                "ratio": round(value / baseline, 2) if baseline else None,
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
