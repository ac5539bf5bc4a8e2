"""An entry split into per-field token lists, computed once per entry per run.

Everything a query needs to test a leaf (stems, folded forms, positions) and to
explain a hit (character offsets, the words as written) comes from here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from newsletter.match.nodes import Leaf, Phrase, Prefix, Term
from newsletter.match.tokens import Token, fold, stem, tokenize
from newsletter.records import Entry

__all__ = ["AnalyzedEntry", "FieldText", "Occurrence", "analyze"]

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
class FieldText:
    """One field's text and tokens; multi-valued fields are joined with newlines."""

    text: str
    tokens: list[Token]
    by_stem: dict[str, list[int]] = field(init=False)
    bigrams: set[tuple[str, str]] = field(init=False)
    """Adjacent stem pairs: rejects most phrase candidates without walking positions."""
    _folds: list[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        by_stem: dict[str, list[int]] = {}
        for i, tok in enumerate(self.tokens):
            by_stem.setdefault(tok.stem, []).append(i)
        by_stem.pop("", None)  # the gap between values
        self.by_stem = by_stem
        stems = [t.stem for t in self.tokens]
        self.bigrams = set(itertools.pairwise(stems))

    @property
    def folds(self) -> list[str]:
        """Case-folded tokens, for prefix search (built only when a query has a prefix)."""
        if self._folds is None:
            self._folds = [fold(t.text) for t in self.tokens]
        return self._folds

    def find(self, leaf: Leaf) -> list[tuple[int, int]]:
        """Token index ranges ``[first, last)`` where ``leaf`` occurs, in text order."""
        if isinstance(leaf, Term):
            return [(i, i + 1) for i in self.by_stem.get(stem(leaf.text), ())]
        if isinstance(leaf, Prefix):
            want = fold(leaf.text)
            return [(i, i + 1) for i, f in enumerate(self.folds) if f.startswith(want)]
        return self.find_phrase(phrase_stems(leaf))

    def find_phrase(self, stems: tuple[str, ...]) -> list[tuple[int, int]]:
        bigrams = self.bigrams
        if not all((a, b) in bigrams for a, b in itertools.pairwise(stems)):
            return []
        tokens, n = self.tokens, len(stems)
        return [
            (i, i + n)
            for i in self.by_stem.get(stems[0], ())
            if i + n <= len(tokens) and all(tokens[i + k].stem == stems[k] for k in range(1, n))
        ]

    def occurrences(self, name: str, leaf: Leaf) -> list[Occurrence]:
        out = []
        for first, last in self.find(leaf):
            start, end = self.tokens[first].start, self.tokens[last - 1].end
            out.append(Occurrence(name, start, end, self.text[start:end]))
        return out


def phrase_stems(leaf: Phrase) -> tuple[str, ...]:
    return tuple(stem(w) for w in leaf.words)


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
