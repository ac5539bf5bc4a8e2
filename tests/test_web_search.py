"""Search's cheap filter never drops a paper the matcher would match (property test), and
the search index reads each paper once per revision."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.demo import sample_papers
from newsletter.match import Matcher, parse
from newsletter.records import Entry, Topic
from newsletter.store import Store
from newsletter.web.search import PaperMemo, SearchIndex, folded, may_match
from tests.web_support import NOW, add, paper, store_url, update


def corpus() -> list[Entry]:
    entries = [
        paper(i, title=p["title"], abstract=p["abstract"])
        for i, p in enumerate(sample_papers()[:30])
    ]
    entries.append(
        paper(
            900,
            title="Studies of LLM's abilities: Café résumés",
            abstract="Transformers' boxes and geese; the gas of studies.",
            authors=("Zoë Ågren",),
            categories=("cs.CL",),
        )
    )
    return entries


CORPUS = corpus()
WORDS = sorted(
    {w for e in CORPUS for w in re.findall(r"[^\W_]+(?:'s)?", f"{e.title} {e.abstract}")}
    | {"studies", "study", "llms", "cafe", "café", "résumé", "box", "goose", "ga"}
)


def leaf() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS)
    return st.one_of(
        word,
        word.map(lambda w: w.upper()),
        word.map(lambda w: w + "s"),
        word.filter(lambda w: len(w) > 3).map(lambda w: w[: len(w) // 2 + 1] + "*"),
        st.lists(word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
        st.tuples(st.sampled_from(["title", "abstract", "author", "category"]), word).map(
            lambda fw: f"{fw[0]}:{fw[1]}"
        ),
    )


queries = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]} OR {ab[1]})"),
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]} AND {ab[1]})"),
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]} -{ab[1]})"),
    ),
    max_leaves=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries)
def test_the_filter_keeps_every_paper_the_matcher_matches(query: str) -> None:
    try:
        node = parse(query)
    except ValueError:
        return  # not a query (the page answers 400 before searching)
    found = Matcher([Topic(id="q", title="q", query=query)]).match(CORPUS)
    for entry in CORPUS:
        if "q" in found[entry.key]:
            assert may_match(node, folded(entry)), (query, entry.title)


def test_the_filter_drops_papers_without_the_words() -> None:
    text = folded(CORPUS[-1])
    assert may_match(parse("study"), text) and may_match(parse("llm"), text)
    assert may_match(parse("title:cafe*"), text) is False  # "café" is not "cafe…"
    assert may_match(parse('"gas of studies"'), text)
    assert not may_match(parse("quantum"), text)
    assert not may_match(parse("quantum AND study"), text)
    assert may_match(parse("quantum OR study"), text)
    assert may_match(parse("study -quantum"), text)
    assert may_match(parse("study -gas"), text)  # NOT never drops (the matcher decides)


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(store_url(database_url, tmp_path))
    yield opened
    opened.close()


class CountingStore:
    """The real store, counting the papers read in full."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.read: list[str] = []

    def newest_refs(self, limit: int):  # type: ignore[no-untyped-def]
        return self.store.newest_refs(limit)

    def read_entries(self, keys):  # type: ignore[no-untyped-def]
        self.read += list(keys)
        return self.store.read_entries(keys)


def test_the_index_reads_a_paper_again_only_when_it_changed(store: Store) -> None:
    first = paper(1, title="Sparse attention", abstract="Long inputs.", popularity=1)
    others = [paper(2, title="Robots", abstract="Legs."), paper(3, title="Old attention")]
    add(store, [first, *others])
    counting = CountingStore(store)
    index = SearchIndex(PaperMemo(counting), corpus=2)  # type: ignore[arg-type]
    result = index.search("attention")
    assert ["".join(r.text for r in p.title) for p in result.papers] == ["Sparse attention"]
    assert [r.text for r in result.papers[0].title if r.marked] == ["attention"]
    assert result.matched == 1 and result.corpus == 2 and not result.capped
    assert sorted(counting.read) == ["arxiv:2611.00001", "arxiv:2611.00002"]
    counting.read.clear()
    index.search("robots OR attention")
    assert counting.read == []
    update(store, first, NOW, title="Sparse attention, revised")
    index.search("attention")
    assert counting.read == ["arxiv:2611.00001"]
