"""Semantic (``about:``) topics measured on real papers labelled by hand.

The set is bench/data/semantic-eval (496 arXiv papers, 13 plain-words topics; its README
says how it was built and labelled). Papers are split by a hash of their arXiv id into a
tuning half, on which every constant of newsletter/match/semantic.py was chosen, and a
held-out half, which is what docs/matching.md reports. Each half is matched as one batch.

    python -m bench.semantic              # per-topic precision and recall on both halves,
                                          # and the first match on 1,000 papers from an empty cache
    python -m bench.semantic --attempts   # every method docs/matching.md compares: its constants
                                          # tuned on the tuning half, then scored on both halves
    python -m bench.semantic --no-timing --json PATH

Needs the ``semantic`` extra. Nothing here is part of ``make test``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.match import Matcher
from newsletter.records import Entry, Topic

DATA = Path(__file__).resolve().parent / "data" / "semantic-eval"
HALVES = ("tune", "held-out")
TARGET_RECALL = 0.90


@dataclass(frozen=True)
class EvalTopic:
    id: str
    about: str
    positives: frozenset[str]


def in_tuning_half(arxiv_id: str) -> bool:
    """The split of bench/data/semantic-eval: first byte of sha256(id) even → tuning half."""
    return hashlib.sha256(arxiv_id.encode()).digest()[0] % 2 == 0


def load() -> tuple[list[dict[str, str]], list[EvalTopic]]:
    papers: list[dict[str, str]] = json.loads((DATA / "papers.json").read_text())
    labels = json.loads((DATA / "labels.json").read_text())
    topics = [EvalTopic(t["id"], t["about"], frozenset(t["positives"])) for t in labels["topics"]]
    return papers, topics


def as_entry(paper: dict[str, str]) -> Entry:
    return Entry(
        key=paper["id"],
        title=paper["title"],
        link=f"https://arxiv.org/abs/{paper['id']}",
        published=datetime(2025, 12, 1, tzinfo=UTC),
        abstract=paper["abstract"],
        categories=(),
        feeds=("arxiv",),
    )


def half_entries(papers: Sequence[dict[str, str]], half: str) -> list[Entry]:
    return [as_entry(p) for p in papers if in_tuning_half(p["id"]) == (half == "tune")]


# -- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicScore:
    topic: str
    positives: int
    found: int
    hits: int

    @property
    def precision(self) -> float:
        return self.hits / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.hits / self.positives if self.positives else 1.0


def score(
    topics: Sequence[EvalTopic], entries: Sequence[Entry], found: dict[str, set[str]]
) -> list[TopicScore]:
    keys = {e.key for e in entries}
    out = []
    for t in topics:
        wanted = t.positives & keys
        got = found.get(t.id, set()) & keys
        out.append(TopicScore(t.id, len(wanted), len(got), len(wanted & got)))
    return out


def means(scores: Sequence[TopicScore]) -> tuple[float, float]:
    return (
        sum(s.precision for s in scores) / len(scores),
        sum(s.recall for s in scores) / len(scores),
    )


def shipped(topics: Sequence[EvalTopic], entries: Sequence[Entry], scorer: Any) -> list[TopicScore]:
    """What ``Matcher`` does with these topics as ``about:`` (default calibration)."""
    matcher = Matcher([Topic(id=t.id, title=t.id, about=t.about) for t in topics], semantic=scorer)
    found: dict[str, set[str]] = {}
    for key, matches in matcher.match(entries).items():
        for topic_id in matches:
            found.setdefault(topic_id, set()).add(key)
    return score(topics, entries, found)


def print_scores(title: str, scores: Sequence[TopicScore]) -> None:
    print(f"\n{title}")
    print(f"  {'topic':<22} {'positives':>9} {'found':>6} {'precision':>9} {'recall':>7}")
    for s in scores:
        print(f"  {s.topic:<22} {s.positives:>9} {s.found:>6} {s.precision:>9.2f} {s.recall:>7.2f}")
    p, r = means(scores)
    print(f"  {'mean':<22} {'':>9} {'':>6} {p:>9.2f} {r:>7.2f}")


# -- speed -----------------------------------------------------------------------------------


def thousand_entries(papers: Sequence[dict[str, str]], n: int = 1000) -> list[Entry]:
    """The set's papers, then recombinations of them (a title, sentences of two others)
    up to ``n``: texts of real length and vocabulary, none seen before."""
    from newsletter.match.semantic_text import split_sentences

    entries = [as_entry(p) for p in papers][:n]
    rng = random.Random(20251201)
    pool = [split_sentences(e)[1:] for e in entries]
    while len(entries) < n:
        i = len(entries)
        title = rng.choice(entries[: len(papers)]).title
        a, b = rng.sample(pool, 2)
        sentences = a[: len(a) // 2] + b[len(b) // 2 :]
        entries.append(
            Entry(
                key=f"mix:{i}",
                title=f"{title} ({i})",
                link=f"https://example.org/{i}",
                published=datetime(2025, 12, 1, tzinfo=UTC),
                abstract=" ".join(sentences),
            )
        )
    return entries


def first_match(
    papers: Sequence[dict[str, str]], topics: Sequence[EvalTopic], threads: int | None
) -> dict[str, Any]:
    """Seconds of the first ``match`` on 1,000 papers: model load, embedding every entry
    (empty cache), scoring 13 topics; then the same match again (vectors cached).

    Wall time depends on what else the machine runs, so the process's CPU time and the
    load average are reported beside it.
    """
    import os

    from newsletter.match.semantic import MiniLMEmbedder, SemanticScorer

    entries = thousand_entries(papers)
    embedder = MiniLMEmbedder(threads=threads)
    matcher = Matcher(
        [Topic(id=t.id, title=t.id, about=t.about) for t in topics],
        semantic=SemanticScorer(embedder),
    )
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    matcher.match(entries)
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    matcher.match(entries)
    again = time.perf_counter() - start
    return {
        "entries": len(entries),
        "threads": threads or os.cpu_count(),
        "first_match_s": round(first, 1),
        "first_match_cpu_s": round(first_cpu, 1),
        "cached_match_s": round(again, 2),
        "load_average_before": round(load, 2),
        "cpus": os.cpu_count(),
    }


# -- attempts: each method tuned on the tuning half, scored on both ----------------------------

Matrix = Any  # numpy float32 array (numpy comes with the semantic extra)


@dataclass(frozen=True)
class Calibration:
    floor: float
    sure: float
    min_z: float

    def __str__(self) -> str:
        sure = "none" if self.sure > 9 else f"{self.sure:.2f}"
        return f"floor {self.floor:.2f}, sure {sure}, z {self.min_z:.1f}"


def found_with(
    scores: Matrix, topics: Sequence[EvalTopic], entries: Sequence[Entry], cal: Calibration
) -> list[TopicScore]:
    from newsletter.match.semantic import decide

    found = {
        t.id: {
            entries[j].key
            for j in decide(scores[i], None, floor=cal.floor, sure=cal.sure, min_z=cal.min_z)
            .nonzero()[0]
            .tolist()
        }
        for i, t in enumerate(topics)
    }
    return score(topics, entries, found)


def tune_calibration(
    scores: Matrix, topics: Sequence[EvalTopic], entries: Sequence[Entry]
) -> tuple[Calibration, tuple[float, float]]:
    """The calibration with the best mean precision at mean recall ≥ 0.90 on these
    (tuning) entries; if none reaches that recall, the one with the best recall."""
    best: tuple[tuple[bool, float, float], Calibration, tuple[float, float]] | None = None
    floors = [x / 100 for x in range(10, 71, 5)]
    sures = [x / 100 for x in range(50, 101, 5)] + [99.0]
    zs = [x / 10 for x in range(10, 31)]
    for floor, sure, min_z in itertools.product(floors, sures, zs):
        if sure <= floor:
            continue
        cal = Calibration(floor, sure, min_z)
        p, r = means(found_with(scores, topics, entries, cal))
        key = (r >= TARGET_RECALL, p if r >= TARGET_RECALL else r, r)
        if best is None or key > best[0]:
            best = (key, cal, (p, r))
    assert best is not None
    return best[1], best[2]


def attempts(papers: Sequence[dict[str, str]], topics: Sequence[EvalTopic]) -> list[dict[str, Any]]:
    """The methods docs/matching.md compares, each from the same embeddings."""
    import numpy as np

    from newsletter.match.semantic import (
        BEST_WEIGHT,
        DEFAULT_MIN_SIMILARITY,
        DEFAULT_MIN_Z,
        DEFAULT_SURE_SIMILARITY,
        WORDS_WEIGHT,
        MiniLMEmbedder,
        SemanticScorer,
    )
    from newsletter.match.semantic_text import split_sentences, word_coverage

    embedder = MiniLMEmbedder()
    abouts = [t.about for t in topics]
    plain_topics = embedder.embed(abouts)

    def sentences_top2(entries: Sequence[Entry]) -> Matrix:
        """The previous release: title and each sentence embedded, mean of the best two."""
        units = [split_sentences(e)[:40] for e in entries]
        vectors = embedder.embed([u for us in units for u in us])
        out = np.zeros((len(topics), len(entries)), dtype=np.float32)
        offset = 0
        for j, us in enumerate(units):
            sims = plain_topics @ vectors[offset : offset + len(us)].T
            offset += len(us)
            k = min(2, sims.shape[1])
            out[:, j] = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
        return out

    def whole_text(entries: Sequence[Entry]) -> Matrix:
        vectors = embedder.embed([f"{e.title}. {e.abstract}" for e in entries])
        return np.asarray(plain_topics @ vectors.T, dtype=np.float32)

    scorer = SemanticScorer(embedder)
    parts: dict[str, dict[str, Matrix]] = {}
    for half in HALVES:
        entries = half_entries(papers, half)
        best, whole = scorer.cosines(abouts, entries)
        words = np.asarray(word_coverage(abouts, entries), dtype=np.float32)
        parts[half] = {
            "sentences": sentences_top2(entries),
            "whole": whole_text(entries),
            "best": best,
            "centre": whole,
            "words": words,
        }

    methods: list[tuple[str, Callable[[dict[str, Matrix]], Matrix], Calibration | None]] = [
        (
            "previous release: sentences, mean of best 2, its constants",
            lambda m: m["sentences"],
            Calibration(0.30, 0.55, 1.7),
        ),
        ("sentences, mean of best 2, recalibrated", lambda m: m["sentences"], None),
        ("whole text as one vector", lambda m: m["whole"], None),
        (
            "title + 3-sentence windows, topic as a sentence: best 2 and whole",
            lambda m: BEST_WEIGHT * m["best"] + (1 - BEST_WEIGHT) * m["centre"],
            None,
        ),
        (
            "... + the topic's words (shipped, shipped constants)",
            lambda m: (
                BEST_WEIGHT * m["best"]
                + (1 - BEST_WEIGHT) * m["centre"]
                + WORDS_WEIGHT * m["words"]
            ),
            Calibration(DEFAULT_MIN_SIMILARITY, DEFAULT_SURE_SIMILARITY, DEFAULT_MIN_Z),
        ),
    ]
    rows = []
    for name, combine, fixed in methods:
        tune_entries = half_entries(papers, "tune")
        if fixed is None:
            cal, _ = tune_calibration(combine(parts["tune"]), topics, tune_entries)
        else:
            cal = fixed
        row: dict[str, Any] = {"method": name, "calibration": str(cal)}
        for half in HALVES:
            p, r = means(found_with(combine(parts[half]), topics, half_entries(papers, half), cal))
            row[half] = {"precision": round(p, 3), "recall": round(r, 3)}
        rows.append(row)
        print(
            f"  {name:<66} tune P {row['tune']['precision']:.2f} R {row['tune']['recall']:.2f}"
            f"  held-out P {row['held-out']['precision']:.2f} R {row['held-out']['recall']:.2f}"
            f"   ({cal})",
            flush=True,
        )

    print("\nweights on the tuning half (calibration tuned for each):")
    tune_entries = half_entries(papers, "tune")
    for best_w, words_w in itertools.product((0.5, 0.7, 1.0), (0.0, 0.1, 0.2, 0.3, 0.4)):
        m = parts["tune"]
        matrix = best_w * m["best"] + (1 - best_w) * m["centre"] + words_w * m["words"]
        cal, (p, r) = tune_calibration(matrix, topics, tune_entries)
        print(f"  best {best_w:.1f} words {words_w:.1f}: P {p:.3f} R {r:.3f}  ({cal})", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.semantic", description=__doc__)
    parser.add_argument("--attempts", action="store_true", help="compare every method")
    parser.add_argument("--no-timing", action="store_true", help="skip the 1,000-paper timing")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch threads for the timing (default: all)"
    )
    parser.add_argument("--only-timing", action="store_true", help="skip precision/recall")
    args = parser.parse_args(argv)

    from newsletter.match.semantic import SemanticScorer, semantic_available

    if not semantic_available():
        print("needs the 'semantic' extra: make semantic", file=sys.stderr)
        return 2
    papers, topics = load()
    result: dict[str, Any] = {}
    if args.attempts:
        print("methods (constants tuned on the tuning half unless stated):")
        result["attempts"] = attempts(papers, topics)
    elif not args.only_timing:
        scorer = SemanticScorer()
        for half in HALVES:
            entries = half_entries(papers, half)
            scores = shipped(topics, entries, scorer)
            print_scores(f"{half} half: {len(entries)} papers, {len(topics)} topics", scores)
            p, r = means(scores)
            result[half] = {
                "mean_precision": round(p, 3),
                "mean_recall": round(r, 3),
                "topics": [
                    {
                        "topic": s.topic,
                        "positives": s.positives,
                        "found": s.found,
                        "precision": round(s.precision, 3),
                        "recall": round(s.recall, 3),
                    }
                    for s in scores
                ],
            }
    if not args.no_timing and not args.attempts:
        timing = first_match(papers, topics, args.threads)
        result["timing"] = timing
        print(
            f"\nfirst match on {timing['entries']} papers, empty cache: "
            f"{timing['first_match_s']} s ({timing['first_match_cpu_s']} s of CPU, "
            f"{timing['threads']} threads; {timing['cpus']} CPUs, load average "
            f"{timing['load_average_before']} before); again, vectors cached: "
            f"{timing['cached_match_s']} s"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
