"""Matching throughput: the indexed Matcher against one-topic-at-a-time evaluation.

The case from issue 4: 2,000 entries against 10,000 distinct topics, which 30,000
subscriber topics share. The baseline evaluates every subscriber's topic against every
entry in turn (no dedupe, no index; entries are still tokenized only once, which favours
the baseline). It is measured on a sample of entries in the same run and scaled
linearly to the full batch, since its cost is exactly proportional to the entries.

Also the quality of ``about`` (semantic) topics on a labelled set built from the seed
papers: precision and recall for keyword-only, semantic-only and combined matching.

Run: ``python -m bench.match [--quick | --quality]``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.match import Matcher, parse, tokenize
from newsletter.match.analyze import analyze
from newsletter.match.evaluate import evaluate
from newsletter.records import Entry, Topic

SEED_PAPERS = Path(__file__).resolve().parents[1] / "shared" / "seed" / "papers.json"
"""Papers from the inspiring page; found beside the repository (../shared/seed) or via $PAPERS."""


def _papers() -> list[dict[str, str]]:
    import os

    for candidate in (os.environ.get("PAPERS"), SEED_PAPERS, Path("/work/shared/seed/papers.json")):
        if candidate and Path(candidate).exists():
            data: list[dict[str, str]] = json.loads(Path(candidate).read_text())
            return data
    raise SystemExit("papers.json not found: set PAPERS=/path/to/papers.json")


def synthetic_entries(n: int, rng: random.Random) -> list[Entry]:
    """Entries whose sentences come from real abstracts, mixed, plus rare made-up words.

    Mixing keeps word statistics realistic; the made-up words grow the vocabulary as a
    real day of arXiv would.
    """
    papers = _papers()
    sentences = [s.strip() + "." for p in papers for s in p["abstract"].split(". ") if s.strip()]
    title_words = [t.text for p in papers for t in tokenize(p["title"])]
    entries = []
    for i in range(n):
        title = " ".join(rng.choice(title_words) for _ in range(rng.randint(5, 12)))
        abstract = " ".join(rng.choice(sentences) for _ in range(rng.randint(5, 9)))
        rare = " ".join(f"w{rng.randrange(50_000)}x" for _ in range(5))
        entries.append(
            Entry(
                key=f"bench:{i}",
                title=title,
                link=f"https://example.org/{i}",
                published=datetime(2024, 1, 1, tzinfo=UTC),
                abstract=f"{abstract} {rare}",
                authors=(f"Author {rng.randrange(3000)}", f"Author {rng.randrange(3000)}"),
                categories=(rng.choice(["cs.LG", "cs.CL", "cs.CV", "eess.AS", "stat.ML"]),),
                feeds=("arxiv",),
                popularity=rng.choice([None, 0, 3, 12, 80]),
            )
        )
    return entries


def synthetic_queries(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct queries of the kinds admins write, over mid-frequency words."""
    papers = _papers()
    tokens = [t for p in papers for t in tokenize(p["title"] + " " + p["abstract"])]
    stem_counts = Counter(t.stem for t in tokens)
    common = {s for s, _ in stem_counts.most_common(200)}  # "the", "model", "learning", ...
    words = sorted({t.text.lower() for t in tokens if t.stem not in common and t.text.isalpha()})
    bigrams = [
        (a.text.lower(), b.text.lower())
        for p in papers
        for a, b in zip(tokenize(p["abstract"]), tokenize(p["abstract"])[1:], strict=False)
        if len(a.text) > 3 and len(b.text) > 3
    ]

    def w() -> str:
        return rng.choice(words)

    templates = [
        lambda: w(),
        lambda: f"{w()} {w()}",
        lambda: f"{w()} OR {w()}",
        lambda: '"{} {}"'.format(*rng.choice(bigrams)),
        lambda: "{}-{}".format(*rng.choice(bigrams)),
        lambda: f"{w()} -{w()}",
        lambda: f"title:{w()}",
        lambda: f"{w()[:5]}* {w()}",
        lambda: f"({w()} OR {w()}) {w()}",
        lambda: f"title:({w()} OR {w()}) NOT {w()}",
        lambda: f'{w()} OR author:"Author {rng.randrange(3000)}"',
        lambda: f"category:cs.CL {w()}",
    ]
    queries: dict[str, None] = {}
    while len(queries) < n:
        queries[rng.choice(templates)()] = None
    return list(queries)


def _baseline(subscriber_queries: list[str], entries: list[Entry]) -> tuple[float, int]:
    """Every subscriber topic, parsed on its own and evaluated against every entry."""
    start = time.process_time()
    nodes = [parse(q) for q in subscriber_queries]
    docs = [analyze(e) for e in entries]
    matched = sum(1 for doc in docs for node in nodes if evaluate(node, doc))
    return time.process_time() - start, matched


# A labelled set over the 80 seed papers (indices into papers.json): for each interest,
# the plain words a subscriber would write (``about``), the keyword query an admin would
# write, and the papers that reader would want, judged from title and abstract.
LABELLED_TOPICS: list[tuple[str, str, str, set[int]]] = [
    (
        "speech synthesis and voice generation: text-to-speech, voice conversion, "
        "generating spoken audio",
        'speech (synthesis OR generation) OR text-to-speech OR tts OR "voice conversion"',
        "speech",
        {14, 16, 22, 35},
    ),
    (
        "machine learning for medical images such as CT scans, MRI and anatomy",
        "medical OR CT OR anatomical OR clinical OR radiology",
        "medical",
        {3, 8, 15, 51},
    ),
    (
        "making transformers and attention cheaper: efficient, lightweight or "
        "linear-complexity attention",
        "(transformer* OR attention) (efficien* OR linear OR lightweight)",
        "efficient-attention",
        {6, 23, 31, 33, 39, 40, 48},
    ),
    (
        "generating images and videos with diffusion models, text-to-image",
        'diffusion (image* OR video*) OR text-to-image OR "video generation" OR "image generation"',
        "generation",
        {31, 46, 62, 71, 75},
    ),
    (
        "recommender systems that suggest items to users",
        "recommend* OR recommender OR click-through",
        "recsys",
        {52, 59, 61, 64, 78},
    ),
    (
        "molecules, chemistry and drug discovery",
        "molecul* OR chemical OR drug* OR chemistry",
        "chemistry",
        {49, 65, 68},
    ),
    (
        "how transformers and large language models learn in context",
        '"in-context"',
        "icl",
        {37, 38},
    ),
]


def _precision_recall(
    found: set[tuple[str, int]], wanted: set[tuple[str, int]]
) -> tuple[float, float]:
    hits = len(found & wanted)
    return hits / max(len(found), 1), hits / max(len(wanted), 1)


def quality(semantic_rows: bool = True) -> list[dict[str, Any]]:
    """Precision/recall on the labelled set: keyword, plain cosine, semantic, combined.

    The semantic rows need the ``semantic`` extra and take about a minute on one core.
    """
    papers = _papers()
    entries = [
        Entry(
            key=str(i),
            title=p["title"],
            link=p.get("link", ""),
            published=datetime(2024, 1, 1, tzinfo=UTC),
            abstract=p["abstract"],
        )
        for i, p in enumerate(papers)
    ]
    wanted = {(name, i) for _, _, name, rel in LABELLED_TOPICS for i in rel}

    def found(topics: list[Topic], **kwargs: Any) -> set[tuple[str, int]]:
        result = Matcher(topics, **kwargs).match(entries)
        return {(tid, int(key)) for key, matches in result.items() for tid in matches}

    keyword = found([Topic(id=n, title=n, query=q) for _, q, n, _ in LABELLED_TOPICS])
    kp, kr = _precision_recall(keyword, wanted)
    label = f"{len(LABELLED_TOPICS)} topics x {len(entries)} seed papers"
    rows = [
        _row(f"topic precision, keyword only ({label})", kp, kp, "precision"),
        _row(f"topic recall, keyword only ({label})", kr, kr, "recall"),
    ]
    from newsletter.match.semantic import SemanticScorer, semantic_available

    if not semantic_rows or not semantic_available():
        return rows
    scorer = SemanticScorer()
    start = time.process_time()
    scorer.entry_matrices(entries)
    embed_s = time.process_time() - start
    # The plain approach as the semantic baseline: one vector per paper, fixed cut-off.
    docs = scorer.embedder.embed([f"{e.title}. {e.abstract}" for e in entries])
    abouts = scorer.embedder.embed([a for a, _, _, _ in LABELLED_TOPICS])
    plain = {
        (LABELLED_TOPICS[t][2], i)
        for t, row in enumerate(abouts @ docs.T)
        for i, sim in enumerate(row)
        if sim >= 0.4
    }
    pp, pr = _precision_recall(plain, wanted)
    semantic = found(
        [Topic(id=n, title=n, about=a) for a, _, n, _ in LABELLED_TOPICS], semantic=scorer
    )
    either = found(
        [Topic(id=n, title=n, query=q, about=a) for a, q, n, _ in LABELLED_TOPICS], semantic=scorer
    )
    both = found(
        [Topic(id=n, title=n, query=q, about=a, require="both") for a, q, n, _ in LABELLED_TOPICS],
        semantic=scorer,
    )
    for name, got in (
        ("semantic only", semantic),
        ("query OR about", either),
        ("query AND about", both),
    ):
        p, r = _precision_recall(got, wanted)
        rows.append(
            _row(
                f"topic precision, {name} (baseline: plain cosine >= 0.4) ({label})",
                p,
                pp,
                "precision",
            )
        )
        rows.append(
            _row(f"topic recall, {name} (baseline: plain cosine >= 0.4) ({label})", r, pr, "recall")
        )
    rows.append(
        {
            "name": f"embed {len(entries)} papers (title + 3-sentence windows), "
            "all-MiniLM-L6-v2, all CPU threads, first run (later runs read the cache)",
            "value": round(len(entries) / embed_s, 1),
            "baseline": None,
            "unit": "papers/s",
            "ratio": None,
        }
    )
    return rows


def _row(name: str, value: float, baseline: float, unit: str) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 3),
        "baseline": round(baseline, 3),
        "unit": unit,
        "ratio": round(value / baseline, 2) if baseline else None,
    }


def run(quick: bool) -> list[dict[str, Any]]:
    from bench import match_folding

    return throughput(quick) + quality(semantic_rows=not quick) + match_folding.run()


def throughput(quick: bool) -> list[dict[str, Any]]:
    rng = random.Random(4)
    n_entries, n_distinct, n_subscriber_topics, sample = (
        (300, 1_000, 3_000, 10) if quick else (2_000, 10_000, 30_000, 40)
    )
    entries = synthetic_entries(n_entries, rng)
    distinct = synthetic_queries(n_distinct, rng)
    subscriber_queries = [rng.choice(distinct) for _ in range(n_subscriber_topics)]
    subscriber_queries[:n_distinct] = distinct  # every distinct query is used at least once
    topics = [Topic(id=f"s{i}", title=q, query=q) for i, q in enumerate(subscriber_queries)]

    start = time.process_time()
    matcher = Matcher(topics)
    compile_s = time.process_time() - start
    start = time.process_time()
    result = matcher.match(entries)
    match_s = time.process_time() - start
    pairs = sum(len(v) for v in result.values())

    # Baseline on a sample of entries, then scaled; check it agrees on the sample.
    sample_entries = entries[:sample]
    base_s, base_matched = _baseline(subscriber_queries, sample_entries)
    ours_on_sample = sum(len(result[e.key]) for e in sample_entries)
    if base_matched != ours_on_sample:
        raise AssertionError(f"baseline found {base_matched} matches, matcher {ours_on_sample}")
    base_full = base_s * n_entries / sample

    label = (
        f"{n_entries} entries x {n_distinct} distinct topics "
        f"({n_subscriber_topics} subscriber topics)"
    )
    total = compile_s + match_s
    return [
        {
            "name": f"match {label}, seconds (baseline: one by one, scaled from {sample} entries)",
            "value": round(total, 3),
            "baseline": round(base_full, 3),
            "unit": "s",
            "ratio": round(base_full / total, 1),
        },
        {
            "name": f"match {label}, entry-topic pairs per second",
            "value": round(n_entries * n_subscriber_topics / total),
            "baseline": round(n_entries * n_subscriber_topics / base_full),
            "unit": "pairs/s",
            "ratio": round(base_full / total, 1),
        },
        {
            "name": f"match {label}: compile {compile_s:.2f} s + match {match_s:.2f} s; "
            f"{matcher.stats.explained} (entry, query) pairs explained, {pairs} topic matches",
            "value": matcher.stats.compiled,
            "baseline": n_subscriber_topics,
            "unit": "queries compiled",
            "ratio": round(n_subscriber_topics / matcher.stats.compiled, 1),
        },
    ]


if __name__ == "__main__":
    for row in quality() if "--quality" in sys.argv else run(quick="--quick" in sys.argv):
        print(json.dumps(row))
