"""Splitting text into tokens, the one analysis shared by queries and entries.

Queries and entries go through the same function, so a query word matches an entry
word exactly when both reduce to the same key (see :mod:`newsletter.match.folding`).
Offsets always refer to the original text (no normalisation happens before splitting),
which is what highlighting needs.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import NamedTuple

from newsletter.match.folding import plural_key

__all__ = ["Token", "stem", "tokenize"]


class Token(NamedTuple):
    """One run of letters and digits: as written, its key, and where it sits in the text.

    ``stem`` is the key under the default (plural) folding; a possessive ``'s`` stays
    in ``text`` (so it is highlighted with its word) and is dropped from the key.
    """

    text: str
    stem: str
    start: int
    end: int


# ASCII text (most titles) needs no table: letters and digits are ``[^\W_]``. A
# possessive ("LLM's", but not the "'s" of "O'sullivan") stays with its word instead
# of leaving a stray "s" token that would break phrases.
_ASCII_RE = re.compile(r"[^\W_]+(?:'[sS](?![^\W_]))?")
_POSSESSIVE = r"(?:['\u2019][sS](?![^\W_]))?"
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
        _unicode_re = re.compile(r"[^\W_](?:[^\W_]|[" + "".join(ranges) + r"])*" + _POSSESSIVE)
    return _unicode_re


def _range(first: int, last: int) -> str:
    if first == last:
        return re.escape(chr(first))
    return f"{re.escape(chr(first))}-{re.escape(chr(last))}"


def stem(word: str) -> str:
    """A word's key under the default folding (plural): what a bare query word matches."""
    return plural_key(word)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; everything but letters, digits and marks separates."""
    pattern = _ASCII_RE if text.isascii() else _token_re()
    make, key = Token._make, plural_key
    return [make((m[0], key(m[0]), m.start(), m.end())) for m in pattern.finditer(text)]
