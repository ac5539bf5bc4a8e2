"""Property tests: the parser never crashes, printing round-trips, and the indexed
matcher agrees with the plain one-entry-at-a-time definition of the language."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from newsletter.match import (
    FIELDS,
    And,
    Field,
    Matcher,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    QuerySyntaxError,
    Term,
    parse,
    tokenize,
    unparse,
)
from newsletter.match.analyze import analyze
from newsletter.match.evaluate import (
    evaluate,
    explain,
    leaf_occurrences,
    popularity_lift,
    positive_leaves,
)
from newsletter.match.folding import STEMMINGS
from newsletter.match.parser import MAX_DEPTH, _matches_without_terms
from newsletter.records import Entry, Stemming, Topic

SYNTAX = [
    "a", "b", "Transformers", "self-supervised", "日本", "and", "or", "AND", "OR", "NOT",
    "-", "(", ")", '"', "*", ":", "title:", "summary:", "author:", "foo:", " ", " ", "\n",
    "efficien*", "cs.LG", "é",
]  # fmt: skip


def _roundtrip_or_error(query: str) -> None:
    try:
        node = parse(query)
    except QuerySyntaxError as error:
        assert 0 <= error.column <= len(query)
        assert error.caret().count("\n") == 1
        return
    assert parse(unparse(node)) == node


@given(st.text(max_size=80))
def test_any_string_parses_or_raises_query_syntax_error(query: str) -> None:
    _roundtrip_or_error(query)


@given(st.lists(st.sampled_from(SYNTAX), max_size=25).map("".join))
def test_query_like_strings_parse_or_raise_query_syntax_error(query: str) -> None:
    _roundtrip_or_error(query)


def _single_token(word: str) -> bool:
    return [t.text for t in tokenize(word)] == [word]


WORDS = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=6).filter(_single_token)


def _leaves(words: st.SearchStrategy[str]) -> st.SearchStrategy[Node]:
    return st.one_of(
        words.map(Term),
        st.lists(words, min_size=2, max_size=3).map(lambda ws: Phrase(tuple(ws))),
        words.map(Prefix),
    )


def _trees(base: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def extend(kids: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        return st.one_of(
            kids.map(Not),
            st.lists(kids, min_size=2, max_size=3).map(lambda c: And(tuple(c))),
            st.lists(kids, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
        )

    return st.recursive(base, extend, max_leaves=8)


def _queries(words: st.SearchStrategy[str]) -> st.SearchStrategy[Node]:
    plain = _trees(_leaves(words))
    fielded = st.builds(Field, st.sampled_from(FIELDS), plain)
    return _trees(st.one_of(_leaves(words), fielded))


def _depth(node: Node) -> int:
    if isinstance(node, Not):
        return 1 + _depth(node.child)
    if isinstance(node, And | Or):
        return 1 + max(_depth(c) for c in node.children)
    if isinstance(node, Field):
        return 1 + _depth(node.child)
    return 0


@given(_queries(WORDS))
def test_unparse_then_parse_gives_the_same_tree(tree: Node) -> None:
    assume(not _matches_without_terms(tree) and _depth(tree) < MAX_DEPTH)
    assert parse(unparse(tree)) == tree


# The indexed matcher against the definition, on a small vocabulary so that
# queries and entries actually share words (inflections exercise stemming).
VOCAB = [
    "model", "Models", "modeling", "speech", "Speech", "text", "to", "self", "supervised",
    "efficient", "efficiency", "diffusion", "graph", "and", "learning", "learned",
    "LLM", "LLMs", "LLM's", "studies", "study", "speeches",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "-", ", ", ". "]


@st.composite
def _texts(draw: st.DrawFn, max_words: int) -> str:
    words = draw(st.lists(st.sampled_from(VOCAB), max_size=max_words))
    out = ""
    for word in words:
        out += word + draw(st.sampled_from(SEPARATORS))
    return out


ENTRIES = st.lists(
    st.builds(
        lambda title, abstract, authors, cats, feeds: (title, abstract, authors, cats, feeds),
        _texts(6),
        _texts(12),
        st.lists(st.sampled_from(["Ada Lovelace", "Alan Turing", "Speech Model"]), max_size=2),
        st.lists(st.sampled_from(["cs.LG", "cs.CL", "eess.AS"]), max_size=2),
        st.lists(st.sampled_from(["arxiv", "hf-daily"]), max_size=2),
    ),
    min_size=1,
    max_size=8,
)


def _entries(raw: list[tuple[str, str, list[str], list[str], list[str]]]) -> list[Entry]:
    return [
        Entry(
            key=f"e{i}",
            title=title,
            link=f"https://example.org/{i}",
            published=datetime(2024, 1, 1, tzinfo=UTC),
            abstract=abstract,
            authors=tuple(authors),
            categories=tuple(cats),
            feeds=tuple(feeds),
        )
        for i, (title, abstract, authors, cats, feeds) in enumerate(raw)
    ]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        _queries(st.sampled_from([*VOCAB, "cs", "LG", "Turing", "arxiv"])), min_size=1, max_size=4
    ),
    ENTRIES,
    st.lists(st.sampled_from(STEMMINGS), min_size=4, max_size=4),
)
def test_matcher_agrees_with_direct_evaluation(
    trees: list[Node],
    raw: list,  # type: ignore[type-arg]
    stemmings: list[Stemming],
) -> None:
    trees = [t for t in trees if not _matches_without_terms(t) and _depth(t) < MAX_DEPTH]
    assume(trees)
    entries = _entries(raw)
    topics = [
        Topic(id=f"t{i}", title="t", query=unparse(t), stemming=stemming)
        for i, (t, stemming) in enumerate(zip(trees, stemmings, strict=False))
    ]
    result = Matcher(topics).match(entries)
    for topic, tree in zip(topics, trees, strict=True):
        for entry in entries:
            expected = evaluate(tree, analyze(entry), stemming=topic.stemming)
            assert (topic.id in result[entry.key]) == expected, (unparse(tree), entry)
            if expected:
                # the fast explanation equals the plain one built from occurrences
                doc = analyze(entry)
                why = explain(
                    [
                        leaf_occurrences(doc, f, leaf, topic.stemming)
                        for f, leaf in positive_leaves(tree)
                    ]
                )
                match = result[entry.key][topic.id]
                assert match.score == round(why.base * popularity_lift(entry.popularity), 6)
                assert match.terms == why.terms
                assert match.title_spans == why.title_spans
                assert match.abstract_spans == why.abstract_spans
                for start, end in match.title_spans:
                    assert tokenize(entry.title[start:end])
                for start, end in match.abstract_spans:
                    assert tokenize(entry.abstract[start:end])
