"""The text side of semantic topics: which pieces of an entry are embedded, and which of
a topic's own words an entry contains.

Pure Python (no numpy, no model), so it is cheap to test and runs without the extra.

* **Units.** An entry is embedded as its title plus its abstract cut into windows of a
  few consecutive sentences. One vector per window keeps a paper's distinct parts apart
  (a sentence of motivation does not dilute the method), while a window rather than a
  single sentence has enough context to be embedded well and costs a third of the model
  calls.
* **Word coverage.** Embeddings blur near neighbours ("motion planning" for a robot arm
  and for a car land close together); whether the entry uses the topic's own words is
  evidence they do not give. Words are weighted by how rare they are in the batch, so
  "driving" counts more than "learning".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from newsletter.records import Entry

__all__ = [
    "MAX_UNITS",
    "WINDOW_SENTENCES",
    "split_sentences",
    "text_units",
    "topic_words",
    "word_coverage",
    "words",
]

WINDOW_SENTENCES = 3
"""Consecutive abstract sentences embedded together."""
MAX_UNITS = 16
"""At most this many units per entry (the title and 15 windows: 45 sentences)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_WORD = re.compile(r"[^\W_]+")
_STOPWORD_TEXT = (
    "a an the of for and or in on to with by from as at via into using use based we our "
    "is are be this that these those its their than then other others new"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def split_sentences(entry: Entry) -> list[str]:
    """The title, then the abstract's sentences."""
    parts = [entry.title.strip()]
    parts += [s.strip() for s in _SENTENCE_END.split(entry.abstract) if s.strip()]
    return [p for p in parts if p] or [entry.key]


def text_units(entry: Entry) -> list[str]:
    """What is embedded for an entry: the title, then windows of abstract sentences."""
    title, *sentences = split_sentences(entry)
    windows = [
        " ".join(sentences[i : i + WINDOW_SENTENCES])
        for i in range(0, len(sentences), WINDOW_SENTENCES)
    ]
    return [title, *windows][:MAX_UNITS]


def words(text: str) -> list[str]:
    """Case-folded words with a plural folded to its singular ("models" → "model")."""
    return [_singular(w) for w in _WORD.findall(text.casefold())]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def topic_words(about: str) -> tuple[str, ...]:
    """The words of an ``about`` text that carry meaning, each once."""
    return tuple(dict.fromkeys(w for w in words(about) if w not in _STOPWORDS and len(w) > 1))


def word_coverage(abouts: Sequence[str], entries: Sequence[Entry]) -> list[list[float]]:
    """``[topic][entry]``: the share of a topic's words an entry contains, in 0..1.

    Each word weighs its inverse document frequency in this batch; a word counts half in
    the title only or the abstract only, fully in both.
    """
    fields = [(set(words(e.title)), set(words(e.abstract))) for e in entries]
    frequency: dict[str, int] = {}
    for title, abstract in fields:
        for word in title | abstract:
            frequency[word] = frequency.get(word, 0) + 1
    n = len(entries)

    def weight(word: str) -> float:
        return math.log((n + 1) / (frequency.get(word, 0) + 0.5))

    rows = []
    for about in abouts:
        weighted = [(w, weight(w)) for w in topic_words(about)]
        total = 2 * sum(v for _, v in weighted)
        if not total:
            rows.append([0.0] * n)
            continue
        rows.append(
            [
                sum(v * ((w in title) + (w in abstract)) for w, v in weighted) / total
                for title, abstract in fields
            ]
        )
    return rows
