"""Splitting text into stemmed tokens, the one analysis shared by queries and entries.

Queries and entries go through the same function, so a query word matches an entry
word exactly when both reduce to the same stem. Offsets always refer to the original
text (no normalisation happens before splitting), which is what highlighting needs.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from functools import lru_cache
from typing import Any, NamedTuple

import snowballstemmer

__all__ = ["Token", "fold", "stem", "tokenize"]


class Token(NamedTuple):
    """One run of letters and digits: as written, its stem, and where it sits in the text."""

    text: str
    stem: str
    start: int
    end: int


# ASCII text (most titles) needs no table: letters and digits are ``[^\W_]``.
_ASCII_RE = re.compile(r"[^\W_]+")
_unicode_re: re.Pattern[str] | None = None


def _token_re() -> re.Pattern[str]:
    """The Unicode pattern: letters/digits, plus combining marks that continue a token.

    Python's ``\\w`` leaves out combining marks, so "café" written with U+0301 would
    split in two. The mark table is built once, on the first non-ASCII text.
    """
    global _unicode_re
    if _unicode_re is None:
        ranges: list[str] = []
        start = prev = -2
        for code in range(sys.maxunicode + 1):
            if unicodedata.category(chr(code))[0] != "M":
                continue
            if code != prev + 1:
                if start >= 0:
                    ranges.append(_range(start, prev))
                start = code
            prev = code
        ranges.append(_range(start, prev))
        _unicode_re = re.compile(r"[^\W_](?:[^\W_]|[" + "".join(ranges) + r"])*")
    return _unicode_re


def _range(first: int, last: int) -> str:
    if first == last:
        return re.escape(chr(first))
    return f"{re.escape(chr(first))}-{re.escape(chr(last))}"


_LOCAL = threading.local()


def _stemmer() -> Any:
    """One stemmer per thread: a Snowball stemmer keeps state while it works and is not
    safe to share (two threads matching at once crashed inside a shared one)."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer


def fold(word: str) -> str:
    """Case-fold and compose, so "Résumé" typed either way compares equal."""
    folded = word.casefold()
    return folded if folded.isascii() else unicodedata.normalize("NFC", folded)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball English stem of a word's folded form (cached: vocabularies repeat)."""
    return str(_stemmer().stemWord(fold(word)))


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; everything but letters, digits and marks separates."""
    pattern = _ASCII_RE if text.isascii() else _token_re()
    make = Token._make
    return [make((m[0], stem(m[0]), m.start(), m.end())) for m in pattern.finditer(text)]
