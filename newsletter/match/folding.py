"""How a word is reduced before it is compared: plural folding (default) or Snowball.

Queries and entries go through the same reduction, so a query word matches an entry
word exactly when both reduce to the same key.

The default, ``plural``, favours precision: it only undoes the regular English plural
(the "S-stemmer" of Harman, 1991, with the rules of Lucene's ``EnglishMinimalStemmer``),
so ``transformers`` finds "transformer" but never "transform" or "transformation", and
``LLMs`` and ``LLM`` are the same word. Derivational stemming (``snowball``, the English
Snowball stemmer) is kept for topics that ask for it; it finds more and also more noise.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from typing import Any, get_args

import snowballstemmer

from newsletter.records import Stemming

__all__ = [
    "DEFAULT_STEMMING",
    "STEMMINGS",
    "Stemming",
    "fold",
    "plural_key",
    "reduce",
    "singular",
    "snowball_key",
]

STEMMINGS: tuple[Stemming, ...] = get_args(Stemming)
DEFAULT_STEMMING: Stemming = "plural"

_POSSESSIVES = ("'s", "\u2019s", "\u02bcs")
"""A possessive ending as the tokenizer keeps it: ASCII, typographic or modifier apostrophe."""


def fold(word: str) -> str:
    """Case-fold, compose (a typed "é" equals "e" + accent) and drop a possessive 's."""
    folded = word.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFC", folded)
    if folded.endswith(_POSSESSIVES) and len(folded) > 2:
        folded = folded[:-2]
    return folded


def singular(folded: str) -> str:
    """The regular English singular of a folded word; anything else is left alone.

    * shorter than 3 letters, or not ending in ``s``: kept (``gas`` is 3 letters: ``ga``);
    * ``…us``, ``…ss``: kept (corpus, loss);
    * ``…ies`` not after ``a``/``e``: ``…y`` (studies → study);
    * ``…aes``, ``…ees``, ``…oes``, other ``…ies``: kept (goes, trees);
    * any other ``…s``: drop the ``s`` (transformers → transformer, LLMs → llm).
    """
    n = len(folded)
    if n < 3 or folded[-1] != "s":
        return folded
    before = folded[-2]
    if before in "us":
        return folded
    if before == "e":
        third = folded[-3]
        if n > 3 and third == "i" and folded[-4] not in "ae":
            return folded[:-3] + "y"
        if third in "iaoe":
            return folded
    return folded[:-1]


@lru_cache(maxsize=200_000)
def plural_key(word: str) -> str:
    """The default key of a word: folded, then made singular (cached: vocabularies repeat)."""
    return singular(fold(word))


_LOCAL = threading.local()


def _stemmer() -> Any:
    """One stemmer per thread: a Snowball stemmer keeps state while it works and is not
    safe to share (two threads matching at once crashed inside a shared one)."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=200_000)
def snowball_key(word: str) -> str:
    """The key under ``stemming: snowball``: the English Snowball stem of the folded word."""
    folded = fold(word)
    return str(_stemmer().stemWord(folded)) if folded else ""


def reduce(word: str, stemming: Stemming) -> str:
    """A word's key under ``stemming``."""
    return plural_key(word) if stemming == "plural" else snowball_key(word)
