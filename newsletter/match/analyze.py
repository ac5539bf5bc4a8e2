"""An entry split into per-field token lists, computed once per entry per run.

Everything a query needs to test a leaf (keys under each stemming, folded forms,
positions) and to explain a hit (character offsets, the words as written) comes from
here. Keys under the default folding come with the tokens; Snowball keys are computed
only for fields that a ``stemming: snowball`` topic searches.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from newsletter.match.folding import DEFAULT_STEMMING, Stemming, fold, reduce, snowball_key
from newsletter.match.nodes import Leaf, Phrase, Prefix, Term
from newsletter.match.tokens import Token, tokenize
from newsletter.records import Entry

__all__ = ["AnalyzedEntry", "FieldText", "Keys", "Occurrence", "analyze", "phrase_keys"]

_GAP = Token("", "", -1, -1)
"""Placed between the values of a multi-valued field so a phrase cannot span two authors."""


class Occurrence(NamedTuple):
    """Where a leaf matched: the field, character offsets into its text, and the text.

    A named tuple, not a dataclass: hundreds of thousands are made per run.
    """

    field: str
    start: int
    end: int
    text: str


@dataclass(slots=True)
class Keys:
    """One field's tokens reduced one way: each token's key, positions by key, key pairs."""

    keys: list[str]
    positions: dict[str, list[int]] = field(init=False)
    bigrams: set[tuple[str, str]] = field(init=False)
    """Adjacent key pairs: rejects most phrase candidates without walking positions."""

    def __post_init__(self) -> None:
        positions: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys):
            positions.setdefault(key, []).append(i)
        positions.pop("", None)  # the gap between values
        self.positions = positions
        self.bigrams = set(itertools.pairwise(self.keys))


@dataclass(slots=True)
class FieldText:
    """One field's text and tokens; multi-valued fields are joined with newlines."""

    text: str
    tokens: list[Token]
    plural: Keys = field(init=False)
    _snowball: Keys | None = field(init=False, default=None)
    _folds: list[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.plural = Keys([t.stem for t in self.tokens])

    def keys(self, stemming: Stemming) -> Keys:
        """The tokens' keys under ``stemming`` (Snowball keys are built on first use)."""
        if stemming == "plural":
            return self.plural
        if self._snowball is None:
            self._snowball = Keys([snowball_key(t.text) for t in self.tokens])
        return self._snowball

    @property
    def folds(self) -> list[str]:
        """Case-folded tokens, for prefix search (built only when a query has a prefix)."""
        if self._folds is None:
            self._folds = [fold(t.text) for t in self.tokens]
        return self._folds

    def find(self, leaf: Leaf, stemming: Stemming = DEFAULT_STEMMING) -> list[tuple[int, int]]:
        """Token index ranges ``[first, last)`` where ``leaf`` occurs, in text order."""
        if isinstance(leaf, Term):
            positions = self.keys(stemming).positions.get(reduce(leaf.text, stemming), ())
            return [(i, i + 1) for i in positions]
        if isinstance(leaf, Prefix):
            want = fold(leaf.text)
            return [(i, i + 1) for i, f in enumerate(self.folds) if f.startswith(want)]
        return self.find_phrase(phrase_keys(leaf, stemming), stemming)

    def find_phrase(self, words: tuple[str, ...], stemming: Stemming) -> list[tuple[int, int]]:
        """Where the keys ``words`` occur consecutively, as token index ranges."""
        index = self.keys(stemming)
        bigrams = index.bigrams
        if not all((a, b) in bigrams for a, b in itertools.pairwise(words)):
            return []
        keys, n = index.keys, len(words)
        return [
            (i, i + n)
            for i in index.positions.get(words[0], ())
            if i + n <= len(keys) and all(keys[i + k] == words[k] for k in range(1, n))
        ]

    def occurrences(
        self, name: str, leaf: Leaf, stemming: Stemming = DEFAULT_STEMMING
    ) -> list[Occurrence]:
        out = []
        for first, last in self.find(leaf, stemming):
            start, end = self.tokens[first].start, self.tokens[last - 1].end
            out.append(Occurrence(name, start, end, self.text[start:end]))
        return out


def phrase_keys(leaf: Phrase, stemming: Stemming) -> tuple[str, ...]:
    """A phrase's words reduced as the text is: the same folding for queries and text."""
    return tuple(reduce(w, stemming) for w in leaf.words)


@dataclass(frozen=True, slots=True)
class AnalyzedEntry:
    entry: Entry
    fields: dict[str, FieldText]


def _multi(values: Iterable[str]) -> FieldText:
    text_parts: list[str] = []
    tokens: list[Token] = []
    offset = 0
    for value in values:
        if tokens:
            tokens.append(_GAP)
        tokens.extend(
            Token(t.text, t.stem, t.start + offset, t.end + offset) for t in tokenize(value)
        )
        text_parts.append(value)
        offset += len(value) + 1
    return FieldText("\n".join(text_parts), tokens)


def analyze(entry: Entry) -> AnalyzedEntry:
    """Tokenize every searchable field of ``entry`` once."""
    return AnalyzedEntry(
        entry,
        {
            "title": FieldText(entry.title, tokenize(entry.title)),
            "abstract": FieldText(entry.abstract, tokenize(entry.abstract)),
            "author": _multi(entry.authors),
            "category": _multi(entry.categories),
            "feed": _multi(entry.feeds),
        },
    )
