"""Acceptance on real arXiv text: a plain-word query matches exactly the papers whose title
or abstract holds that word or its regular plural, and nothing derived from it.

The corpus is every arXiv capture in tests/fixtures/real (parsed by the project's own
parser, so the text is what the matcher sees in a run) plus the 80 papers of the seed
page. The oracle is a regular expression over that same text, written from the rule in
docs/matching.md, not from the code: a word is a run of letters and digits, compared
without regard to case.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from newsletter.match import Matcher
from newsletter.records import Entry, Stemming, Topic
from newsletter.sources import FeedSpec, parse_document

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
CONTENT_TYPES = {
    ".xml": "application/rss+xml",
    ".rdf": "application/rdf+xml",
    ".atom": "application/atom+xml",
}


@cache
def corpus() -> tuple[Entry, ...]:
    entries: list[Entry] = []
    captures = sorted((FIXTURES / "real").glob("arxiv-*"))
    assert captures, "no arXiv capture in tests/fixtures/real"
    for path in captures:
        spec = FeedSpec(
            name=path.stem,
            url=f"https://rss.arxiv.org/{path.name}",
            type="arxiv",
            announce_types=("new", "cross", "replace", "replace-cross"),
        )
        result = parse_document(
            path.read_bytes(),
            content_type=CONTENT_TYPES[path.suffix],
            location=spec.url,
            spec=spec,
            now=NOW,
        )
        assert result.error is None, result.error
        entries.extend(result.entries)
    papers = json.loads((FIXTURES / "papers.json").read_text(encoding="utf-8"))
    entries += [
        Entry(key=f"seed:{i}", title=p["title"], link="", published=NOW, abstract=p["abstract"])
        for i, p in enumerate(papers)
    ]
    assert len(entries) >= 190
    return tuple(entries)


def oracle(*words: str) -> set[str]:
    """Keys of the papers where one of ``words`` stands alone: neither side touches a
    letter or digit (``[^\\W_]``), any case."""
    alternatives = "|".join(re.escape(w) for w in words)
    pattern = re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)
    return {e.key for e in corpus() if pattern.search(e.title) or pattern.search(e.abstract)}


def matched(query: str, stemming: Stemming = "plural") -> set[str]:
    """Keys of the papers ``query`` matches (all queries of this file are matched at once)."""
    return set(_all_matches()[query, stemming])


@cache
def _all_matches() -> dict[tuple[str, Stemming], frozenset[str]]:
    queries = [(q, "plural") for w in WORDS for q in (*w, w[0].upper(), w[0] + "'s")]
    queries += [(q, st) for q, _ in DERIVED for st in ("plural", "snowball")]
    queries += [(q[:-3] + "*", "plural") for q, _ in DERIVED]
    queries += [(q, "snowball") for q in ("LLM", "LLMs")]
    topics = {
        f"{st}:{q}": Topic(id=f"{st}:{q}", title=q, query=q, stemming=st) for q, st in queries
    }
    result = Matcher(topics.values()).match(corpus())
    return {
        (topic.query or "", topic.stemming): frozenset(k for k, v in result.items() if tid in v)
        for tid, topic in topics.items()
    }


# (singular, regular plural): both spellings are queried, both must give the oracle's set.
WORDS = [
    ("transformer", "transformers"),
    ("LLM", "LLMs"),
    ("sequencing", "sequencings"),
    ("reasoning", "reasonings"),
    ("diffusion", "diffusions"),
    ("graph", "graphs"),
    ("agent", "agents"),
    ("benchmark", "benchmarks"),
    ("token", "tokens"),
    ("image", "images"),
    ("attention", "attentions"),
    ("robot", "robots"),
    ("model", "models"),
    ("study", "studies"),
    ("policy", "policies"),
]


@pytest.mark.parametrize(("singular", "plural"), WORDS, ids=[w for w, _ in WORDS])
def test_a_word_matches_exactly_itself_and_its_plural(singular: str, plural: str) -> None:
    expected = oracle(singular, plural)
    assert matched(singular) == expected
    assert matched(plural) == expected
    assert matched(singular.upper()) == expected
    assert matched(singular + "'s") == expected  # a possessive is the word


def test_the_oracle_is_not_vacuous() -> None:
    found = {singular: len(oracle(singular, plural)) for singular, plural in WORDS}
    assert sum(1 for n in found.values() if n) >= len(WORDS) - 2, found
    assert found["transformer"] >= 10 and found["LLM"] >= 5


def test_llm_and_llms_match_the_same_papers() -> None:
    llm = matched("LLM")
    assert llm and llm == matched("LLMs") == matched("LLM's")
    # what snowball did: "LLMs" stems to "llms", so the two spellings parted
    assert matched("LLM", "snowball") != matched("LLMs", "snowball")


DERIVED = [
    ("transformer", ("transform", "transforms", "transformation", "transformations")),
    ("sequencing", ("sequence", "sequences")),
    ("generation", ("generative", "generate", "generated")),
    ("evaluation", ("evaluate", "evaluated", "evaluating")),
]


@pytest.mark.parametrize(("query", "derived"), DERIVED, ids=[q for q, _ in DERIVED])
def test_derived_words_are_not_matched(query: str, derived: tuple[str, ...]) -> None:
    only_derived = oracle(*derived) - oracle(query, query + "s")
    assert only_derived, f"the corpus has no paper with only {derived}: the test would not bite"
    assert not matched(query) & only_derived
    assert only_derived <= matched(query, "snowball")  # the old behaviour, still available
    prefix = query[:-3] + "*"
    assert only_derived & matched(prefix)  # a prefix broadens again


def test_highlighted_words_are_the_word_or_its_plural() -> None:
    topic = Topic(id="t", title="t", query="transformer OR LLM")
    allowed = re.compile(r"(?:transformer|llm)s?(?:['\u2019]s)?", re.IGNORECASE)
    seen = set()
    for found in Matcher([topic]).match(corpus()).values():
        if "t" in found:
            seen.update(found["t"].terms)
    assert len(seen) >= 3 and all(allowed.fullmatch(term) for term in seen), seen
