"""Matching a batch of entries against many topics at once.

Why it is fast: each distinct query text is compiled once, however many subscribers
share it. Per ``match`` call every entry is tokenized once, and the batch is turned
into an inverted index of bitsets (bit *i* = entry *i*) per field and stem. A query
is then evaluated for all entries together with integer AND/OR/NOT over those bitsets,
so a query whose words occur in no entry costs a few dictionary lookups. Only the
(entry, query) pairs that match are explained (spans, words, score), once per pair,
and the result is copied to every topic that shares the query.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from newsletter.match.analyze import AnalyzedEntry, Occurrence, analyze, phrase_stems
from newsletter.match.evaluate import (
    DEFAULT_FIELDS,
    explain,
    leaf_occurrences,
    positive_leaves,
)
from newsletter.match.nodes import And, Field, Leaf, Node, Not, Or, Phrase, Prefix, Term
from newsletter.match.parser import parse
from newsletter.match.tokens import fold, stem
from newsletter.records import Entry, Topic, TopicMatch

__all__ = ["CompiledQuery", "MatchStats", "Matcher"]


@dataclass(slots=True)
class CompiledQuery:
    """One distinct query text, parsed once, with the topics that use it."""

    text: str
    node: Node
    leaves: list[tuple[str | None, Leaf]]
    topic_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MatchStats:
    """Counters that show the work done (tests and the benchmark read them)."""

    compiled: int = 0
    """Distinct queries parsed."""
    evaluations: int = 0
    """Query evaluations over a whole batch (one per distinct query per ``match`` call)."""
    explained: int = 0
    """(entry, distinct query) pairs that matched and were scored and highlighted."""


class Matcher:
    """Matches entries against topics; build once per run, call :meth:`match` per batch."""

    def __init__(self, topics: Iterable[Topic]) -> None:
        self.stats = MatchStats()
        self._queries: dict[str, CompiledQuery] = {}
        self._topic_query: dict[str, str | None] = {}
        for topic in topics:
            self._add(topic)

    def _add(self, topic: Topic) -> None:
        query = topic.query
        if topic.id in self._topic_query:
            if self._topic_query[topic.id] != query:
                raise ValueError(
                    f"two topics share the id {topic.id!r} but have different queries; "
                    "topic ids must be unique"
                )
            return
        self._topic_query[topic.id] = query
        if query is None:
            return
        compiled = self._queries.get(query)
        if compiled is None:
            node = parse(query)
            compiled = CompiledQuery(query, node, positive_leaves(node))
            self._queries[query] = compiled
            self.stats.compiled += 1
        compiled.topic_ids.append(topic.id)

    def match(self, entries: Iterable[Entry]) -> dict[str, dict[str, TopicMatch]]:
        """``entry.key -> topic.id -> TopicMatch`` for every entry (empty dict: no match)."""
        docs = {e.key: analyze(e) for e in entries}
        result: dict[str, dict[str, TopicMatch]] = {key: {} for key in docs}
        batch = _Batch(list(docs.values()))
        for compiled in self._queries.values():
            self.stats.evaluations += 1
            bits = batch.eval(compiled.node, None)
            for i in _iter_bits(bits):
                doc = batch.docs[i]
                per_leaf = [batch.occurrences(i, f, leaf) for f, leaf in compiled.leaves]
                value, terms, title, abstract = explain(per_leaf, doc.entry.popularity)
                self.stats.explained += 1
                matches = result[doc.entry.key]
                for topic_id in compiled.topic_ids:
                    matches[topic_id] = TopicMatch(topic_id, value, terms, title, abstract)
        return result


def _iter_bits(bits: int) -> Iterator[int]:
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


class _Batch:
    """Bitset inverted index over one batch of analyzed entries; leaf results are memoised."""

    def __init__(self, docs: list[AnalyzedEntry]) -> None:
        self.docs = docs
        self.all = (1 << len(docs)) - 1
        self.stems: dict[str, dict[str, int]] = {}
        self.folds: dict[str, dict[str, int]] = {}
        self._fold_vocab: dict[str, list[str]] = {}
        self._leaf_bits: dict[tuple[str, Leaf], int] = {}
        self._occurrences: dict[tuple[int, str | None, Leaf], list[Occurrence]] = {}
        for name in ("title", "abstract", "author", "category", "feed"):
            stem_rows: dict[str, list[int]] = {}
            fold_rows: dict[str, list[int]] = {}
            for i, doc in enumerate(docs):
                text = doc.fields[name]
                for s in text.by_stem:
                    stem_rows.setdefault(s, []).append(i)
                for f in set(text.folds):
                    fold_rows.setdefault(f, []).append(i)
            self.stems[name] = {s: _bits(rows) for s, rows in stem_rows.items()}
            self.folds[name] = {f: _bits(rows) for f, rows in fold_rows.items()}

    def eval(self, node: Node, field: str | None) -> int:
        """Bitset of the entries ``node`` matches, within ``field`` (None: title + abstract)."""
        if isinstance(node, And):
            bits = self.all
            for child in node.children:
                bits &= self.eval(child, field)
                if not bits:
                    break
            return bits
        if isinstance(node, Or):
            bits = 0
            for child in node.children:
                bits |= self.eval(child, field)
            return bits
        if isinstance(node, Not):
            return self.all & ~self.eval(node.child, field)
        if isinstance(node, Field):
            return self.eval(node.child, node.name)
        if field is None:
            return self.leaf_bits(DEFAULT_FIELDS[0], node) | self.leaf_bits(DEFAULT_FIELDS[1], node)
        return self.leaf_bits(field, node)

    def leaf_bits(self, name: str, leaf: Leaf) -> int:
        key = (name, leaf)
        bits = self._leaf_bits.get(key)
        if bits is None:
            bits = self._compute_leaf(name, leaf)
            self._leaf_bits[key] = bits
        return bits

    def _compute_leaf(self, name: str, leaf: Leaf) -> int:
        stems = self.stems[name]
        if isinstance(leaf, Term):
            return stems.get(stem(leaf.text), 0)
        if isinstance(leaf, Prefix):
            return self._prefix_bits(name, fold(leaf.text))
        assert isinstance(leaf, Phrase)
        words = phrase_stems(leaf)
        candidates = self.all
        for s in words:
            candidates &= stems.get(s, 0)
            if not candidates:
                return 0
        bits = 0
        for i in _iter_bits(candidates):
            if self.docs[i].fields[name].find_phrase(words):
                bits |= 1 << i
        return bits

    def _prefix_bits(self, name: str, prefix: str) -> int:
        vocab = self._fold_vocab.get(name)
        if vocab is None:
            vocab = self._fold_vocab[name] = sorted(self.folds[name])
        folds = self.folds[name]
        bits = 0
        for i in range(bisect_left(vocab, prefix), len(vocab)):
            if not vocab[i].startswith(prefix):
                break
            bits |= folds[vocab[i]]
        return bits

    def occurrences(self, i: int, field: str | None, leaf: Leaf) -> list[Occurrence]:
        """Where ``leaf`` occurs in entry ``i``; shared by every query that has this leaf."""
        key = (i, field, leaf)
        found = self._occurrences.get(key)
        if found is None:
            names = DEFAULT_FIELDS if field is None else (field,)
            if any(self.leaf_bits(n, leaf) >> i & 1 for n in names):
                found = leaf_occurrences(self.docs[i], field, leaf)
            else:
                found = []
            self._occurrences[key] = found
        return found


def _bits(rows: list[int]) -> int:
    bits = 0
    for i in rows:
        bits |= 1 << i
    return bits
