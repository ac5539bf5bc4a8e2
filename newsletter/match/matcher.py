"""Matching a batch of entries against many topics at once.

Why it is fast: each distinct (query text, stemming) is compiled once, however many
subscribers share it. Per ``match`` call every entry is tokenized once, and the batch is
turned into an inverted index of bitsets (bit *i* = entry *i*) per stemming, field and
key, each built the first time a query needs it. A query
is then evaluated for all entries together with integer AND/OR/NOT over those bitsets,
so a query whose words occur in no entry costs a few dictionary lookups. Only the
(entry, query) pairs that match are explained (spans, words, score), once per pair,
and the result is copied to every topic that shares the query.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from newsletter.match.analyze import AnalyzedEntry, analyze, phrase_keys
from newsletter.match.evaluate import (
    DEFAULT_FIELDS,
    Explanation,
    combine,
    explain_leaf_in,
    popularity_lift,
    positive_leaves,
)
from newsletter.match.folding import STEMMINGS, Stemming, fold, reduce
from newsletter.match.nodes import And, Field, Leaf, Node, Not, Or, Phrase, Prefix, Term
from newsletter.match.parser import parse
from newsletter.records import Entry, Topic, TopicMatch

if TYPE_CHECKING:
    from newsletter.match.semantic import SemanticScorer

SIMILARITY_WEIGHT = 4.0
"""Score of an ``about`` topic: ``(keyword base + 4 · similarity) · popularity lift``."""

__all__ = ["CompiledQuery", "MatchStats", "Matcher"]


ScopedLeaf = tuple[Stemming, str | None, Leaf]
"""A leaf as the index sees it: how words are reduced, the field (None: title and
abstract) and the leaf."""


@dataclass(slots=True)
class CompiledQuery:
    """One distinct (query text, stemming), parsed once, with the topics that use it."""

    text: str
    stemming: Stemming
    node: Node
    leaf_ids: tuple[int, ...]
    """The query's positive leaves (what a match is explained by), as matcher-wide ids."""
    topic_ids: list[str] = field(default_factory=list)
    """Keyword-only topics with this query (they receive its matches directly)."""
    keep: bool = False
    """Whether an ``about`` topic also uses this query and needs its per-entry results."""


@dataclass(slots=True)
class MatchStats:
    """Counters that show the work done (tests and the benchmark read them)."""

    compiled: int = 0
    """Distinct (query, stemming) pairs parsed."""
    evaluations: int = 0
    """Query evaluations over a whole batch (one per distinct query per ``match`` call)."""
    explained: int = 0
    """(entry, distinct query) pairs that matched and were scored and highlighted."""
    about_texts: int = 0
    """Distinct ``about`` texts (each embedded once)."""


class Matcher:
    """Matches entries against topics; build once per run, call :meth:`match` per batch."""

    def __init__(self, topics: Iterable[Topic], semantic: SemanticScorer | None = None) -> None:
        """Compile every distinct (query, stemming) once.

        ``semantic`` scores ``about`` topics; when such topics exist and it is None, the
        default model is used, and :class:`~newsletter.match.semantic.SemanticUnavailableError`
        is raised if the ``semantic`` extra is not installed.
        """
        self.stats = MatchStats()
        self._queries: dict[tuple[str, Stemming], CompiledQuery] = {}
        self._topics: dict[str, Topic] = {}
        self._about_topics: list[Topic] = []
        self._leaf_ids: dict[ScopedLeaf, int] = {}
        self._leaves: list[ScopedLeaf] = []
        for topic in topics:
            self._add(topic)
        self.semantic = semantic
        if self._about_topics and semantic is None:
            from newsletter.match.semantic import SemanticScorer

            self.semantic = SemanticScorer()
        self.stats.about_texts = len({t.about for t in self._about_topics})

    def _add(self, topic: Topic) -> None:
        known = self._topics.get(topic.id)
        if known is not None:
            if _definition(known) != _definition(topic):
                raise ValueError(
                    f"two topics share the id {topic.id!r} but are defined differently; "
                    "topic ids must be unique"
                )
            return
        self._topics[topic.id] = topic
        if topic.stemming not in STEMMINGS:
            raise ValueError(
                f"topic {topic.id!r}: stemming must be one of {', '.join(STEMMINGS)}, "
                f"not {topic.stemming!r}"
            )
        if topic.about is not None:
            if topic.require not in ("either", "both"):
                raise ValueError(
                    f"topic {topic.id!r}: require must be 'either' or 'both', not {topic.require!r}"
                )
            self._about_topics.append(topic)
        query = topic.query
        if query is None:
            return
        compiled = self._queries.get((query, topic.stemming))
        if compiled is None:
            node = parse(query)
            leaves = [(topic.stemming, f, leaf) for f, leaf in positive_leaves(node)]
            compiled = CompiledQuery(query, topic.stemming, node, self._intern(leaves))
            self._queries[query, topic.stemming] = compiled
            self.stats.compiled += 1
        if topic.about is None:
            compiled.topic_ids.append(topic.id)
        else:
            compiled.keep = True

    def _intern(self, leaves: list[ScopedLeaf]) -> tuple[int, ...]:
        """Number leaves matcher-wide, so per-entry caches key on small ints, not nodes."""
        ids = []
        for leaf in leaves:
            lid = self._leaf_ids.get(leaf)
            if lid is None:
                lid = self._leaf_ids[leaf] = len(self._leaves)
                self._leaves.append(leaf)
            ids.append(lid)
        return tuple(ids)

    def match(self, entries: Iterable[Entry]) -> dict[str, dict[str, TopicMatch]]:
        """``entry.key -> topic.id -> TopicMatch`` for every entry (empty dict: no match)."""
        docs = {e.key: analyze(e) for e in entries}
        result: dict[str, dict[str, TopicMatch]] = {key: {} for key in docs}
        batch = _Batch(list(docs.values()), self._leaves)
        keys = list(docs)
        lifts = [popularity_lift(doc.entry.popularity) for doc in docs.values()]
        kept: dict[tuple[str, Stemming], dict[int, Explanation]] = {}
        stats = self.stats
        for compiled in self._queries.values():
            stats.evaluations += 1
            bits = batch.eval(compiled.node, None, compiled.stemming)
            hits: dict[int, Explanation] = (
                kept.setdefault((compiled.text, compiled.stemming), {}) if compiled.keep else {}
            )
            for i in _iter_bits(bits):
                why = batch.explain(i, compiled.leaf_ids)
                stats.explained += 1
                if compiled.keep:
                    hits[i] = why
                if not compiled.topic_ids:
                    continue
                base, terms, title, abstract, _ = why
                value = round(base * lifts[i], 6)
                matches = result[keys[i]]
                for topic_id in compiled.topic_ids:
                    matches[topic_id] = TopicMatch(topic_id, value, terms, title, abstract)
        if self._about_topics:
            self._match_about([d.entry for d in docs.values()], kept, lifts, result)
        return result

    def _match_about(
        self,
        entries: list[Entry],
        kept: dict[tuple[str, Stemming], dict[int, Explanation]],
        lifts: list[float],
        result: dict[str, dict[str, TopicMatch]],
    ) -> None:
        """Topics with ``about``: similarity, combined with their query per ``require``."""
        from newsletter.match.semantic import decide

        assert self.semantic is not None
        abouts = list(dict.fromkeys(t.about for t in self._about_topics if t.about))
        rows = dict(zip(abouts, self.semantic.similarities(abouts, entries), strict=True))
        for topic in self._about_topics:
            assert topic.about is not None
            row = rows[topic.about]
            close = {int(i) for i in decide(row, topic.threshold).nonzero()[0]}
            lexical = kept.get((topic.query, topic.stemming), {}) if topic.query is not None else {}
            if topic.query is not None and topic.require == "both":
                chosen = close & lexical.keys()
            else:
                chosen = close | lexical.keys()
            for i in sorted(chosen):
                similarity = float(row[i])
                why = lexical.get(i)
                base = why.base if why else 0.0
                result[entries[i].key][topic.id] = TopicMatch(
                    topic.id,
                    round((base + SIMILARITY_WEIGHT * max(similarity, 0.0)) * lifts[i], 6),
                    why.terms if why else (),
                    why.title_spans if why else (),
                    why.abstract_spans if why else (),
                    round(similarity, 4),
                )


def _definition(topic: Topic) -> tuple[object, ...]:
    return (topic.query, topic.about, topic.threshold, topic.require, topic.stemming)


def _iter_bits(bits: int) -> Iterator[int]:
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


class _Batch:
    """Bitset inverted index over one batch of analyzed entries; leaf results are memoised."""

    def __init__(self, docs: list[AnalyzedEntry], leaves: list[ScopedLeaf]) -> None:
        self.docs = docs
        self.leaves = leaves
        self._hits: dict[int, Explanation | None] = {}
        self._lid_bits: dict[int, list[tuple[str, int]]] = {}
        self.all = (1 << len(docs)) - 1
        self._keys: dict[tuple[Stemming, str], dict[str, int]] = {}
        self._folds: dict[str, tuple[list[str], dict[str, int]]] = {}
        self._leaf_bits: dict[tuple[Stemming, str, Leaf], int] = {}

    def keys(self, stemming: Stemming, name: str) -> dict[str, int]:
        """Key -> bitset of the entries holding it in field ``name``, built on first use."""
        index = self._keys.get((stemming, name))
        if index is None:
            rows: dict[str, list[int]] = {}
            for i, doc in enumerate(self.docs):
                for key in doc.fields[name].keys(stemming).positions:
                    rows.setdefault(key, []).append(i)
            index = self._keys[stemming, name] = {k: _bits(r) for k, r in rows.items()}
        return index

    def _fold_index(self, name: str) -> tuple[list[str], dict[str, int]]:
        """Sorted folded vocabulary and its bitsets, built on the first prefix query."""
        index = self._folds.get(name)
        if index is None:
            rows: dict[str, list[int]] = {}
            for i, doc in enumerate(self.docs):
                for f in set(doc.fields[name].folds):
                    rows.setdefault(f, []).append(i)
            index = self._folds[name] = (sorted(rows), {f: _bits(r) for f, r in rows.items()})
        return index

    def eval(self, node: Node, field: str | None, stemming: Stemming) -> int:
        """Bitset of the entries ``node`` matches, within ``field`` (None: title + abstract)."""
        if isinstance(node, And):
            bits = self.all
            for child in node.children:
                bits &= self.eval(child, field, stemming)
                if not bits:
                    break
            return bits
        if isinstance(node, Or):
            bits = 0
            for child in node.children:
                bits |= self.eval(child, field, stemming)
            return bits
        if isinstance(node, Not):
            return self.all & ~self.eval(node.child, field, stemming)
        if isinstance(node, Field):
            return self.eval(node.child, node.name, stemming)
        if field is None:
            return self.leaf_bits(stemming, DEFAULT_FIELDS[0], node) | self.leaf_bits(
                stemming, DEFAULT_FIELDS[1], node
            )
        return self.leaf_bits(stemming, field, node)

    def leaf_bits(self, stemming: Stemming, name: str, leaf: Leaf) -> int:
        if isinstance(leaf, Prefix):
            stemming = "plural"  # prefixes compare folded text: one result for both
        key = (stemming, name, leaf)
        bits = self._leaf_bits.get(key)
        if bits is None:
            bits = self._compute_leaf(stemming, name, leaf)
            self._leaf_bits[key] = bits
        return bits

    def _compute_leaf(self, stemming: Stemming, name: str, leaf: Leaf) -> int:
        if isinstance(leaf, Prefix):
            return self._prefix_bits(name, fold(leaf.text))
        keys = self.keys(stemming, name)
        if isinstance(leaf, Term):
            return keys.get(reduce(leaf.text, stemming), 0)
        assert isinstance(leaf, Phrase)
        words = phrase_keys(leaf, stemming)
        candidates = self.all
        for key in words:
            candidates &= keys.get(key, 0)
            if not candidates:
                return 0
        bits = 0
        for i in _iter_bits(candidates):
            if self.docs[i].fields[name].find_phrase(words, stemming):
                bits |= 1 << i
        return bits

    def _prefix_bits(self, name: str, prefix: str) -> int:
        vocab, folds = self._fold_index(name)
        bits = 0
        for i in range(bisect_left(vocab, prefix), len(vocab)):
            if not vocab[i].startswith(prefix):
                break
            bits |= folds[vocab[i]]
        return bits

    def explain(self, i: int, leaf_ids: tuple[int, ...]) -> Explanation:
        """Why entry ``i`` matched a query with these leaves (per-leaf parts are shared)."""
        if len(leaf_ids) == 1:  # the common case: the one leaf must be present
            hit = self.hit(i, leaf_ids[0])
            assert hit is not None
            return hit
        parts = [hit for lid in leaf_ids if (hit := self.hit(i, lid)) is not None]
        return combine(parts)

    def hit(self, i: int, lid: int) -> Explanation | None:
        """Leaf ``lid``'s explanation in entry ``i``; None if absent (memoised)."""
        key = lid * len(self.docs) + i
        if key in self._hits:
            return self._hits[key]
        stemming, field, leaf = self.leaves[lid]
        per_field = self._lid_bits.get(lid)
        if per_field is None:
            scope = DEFAULT_FIELDS if field is None else (field,)
            per_field = self._lid_bits[lid] = [
                (n, self.leaf_bits(stemming, n, leaf)) for n in scope
            ]
        present = [name for name, bits in per_field if bits >> i & 1]
        found = explain_leaf_in(self.docs[i], present, leaf, stemming) if present else None
        self._hits[key] = found
        return found


def _bits(rows: list[int]) -> int:
    bits = 0
    for i in rows:
        bits |= 1 << i
    return bits
