"""TeX as readable Unicode, for text written in TeX: arXiv titles, abstracts and names.

``Schr\\"odinger`` → Schrödinger, ``\\&`` → &, ``--`` → –, ``$1<p<2+\\varepsilon$`` →
1<p<2+ε. An abstract is mostly prose with a few TeX snippets, and arXiv authors write
the prose as prose: ``%`` and ``&`` are characters, not a comment and an alignment tab;
``~`` before a number means "approximately"; ``$5 and $10`` is money; URLs are left as
written. So only the snippets — math spans, macros with their arguments, brace groups —
go to pylatexenc (:mod:`~newsletter.sources.latex_reader`); the prose around them only
gets its dashes, quotes and ties. This is also what keeps it fast: pylatexenc reads
about 40 characters a millisecond here, and most of an abstract is not TeX.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from newsletter.sources.latex_reader import math_span, read_snippet

MAX_TEX_CHARS = 20_000
"""Longer input is returned as it is (an abstract is a few thousand characters)."""

_TEX_HINT = re.compile(r"[\\${}~]|--|``|''")
"""Without any of these, TeX reading would change nothing."""
_URL = re.compile(r"https?://[^\s{}$\\]+[^\s{}$\\.,;:!?)\]'\"]")
_URL_MACRO = re.compile(r"\\url\{([^{}]*)\}")
_HREF_MACRO = re.compile(r"\\href\{([^{}]*)\}\{([^{}]*)\}")
_NAMED = {
    "eg": "e.g.", "ie": "i.e.", "etal": "et al.", "cf": "cf.", "etc": "etc.",
    "vs": "vs.", "wrt": "w.r.t.", "TeX": "TeX", "LaTeX": "LaTeX",
}  # fmt: skip
"""Macros common in abstracts (CVPR's ``\\eg``) that pylatexenc drops; like CVPR's
definitions they absorb a period that follows (``\\etal.``)."""
_NAMED_MACRO = re.compile(r"\\(" + "|".join(_NAMED) + r")(?![A-Za-z])(?:\{\})?\.?")
_TYPOGRAPHY = re.compile(r"---|--|``|''|~")
_TIE_BEFORE = re.compile(r"[\w.,;:)\]}]")
_ACCENTS = frozenset("'\"`^~=.")
_DELIMITED = {"(": r"\)", "[": r"\]"}


def tex_to_text(text: str) -> str:
    """``text`` with its TeX read into Unicode; unchanged when there is none."""
    if not _TEX_HINT.search(text) or len(text) > MAX_TEX_CHARS:
        return text
    text = _HREF_MACRO.sub(r"\2 (\1)", _URL_MACRO.sub(r"\1", text))
    text = _NAMED_MACRO.sub(lambda m: _NAMED[m[1]], text)
    pieces: list[str] = []
    start = 0
    for url in _URL.finditer(text):
        pieces.append(_read(text[start : url.start()]))
        pieces.append(url[0])
        start = url.end()
    pieces.append(_read(text[start:]))
    return "".join(pieces)


def _read(text: str) -> str:
    """Prose with its snippets read; the prose itself only gets typography."""
    pieces: list[str] = []
    start = 0
    for begin, end in _snippets(text):
        pieces.append(_typography(text[start:begin]))
        pieces.append(read_snippet(text[begin:end]))
        start = end
    pieces.append(_typography(text[start:]))
    return "".join(pieces)


def _typography(prose: str) -> str:
    """``--`` → –, ``---`` → —, ````quotes''`` → “quotes”, ``Fig.~3`` → a no-break space."""
    if not _TYPOGRAPHY.search(prose):
        return prose
    return _TYPOGRAPHY.sub(lambda m: _typeset(m.string, m.start(), m[0]), prose)


def _typeset(prose: str, at: int, mark: str) -> str:
    if mark != "~":
        return {"---": "—", "--": "–", "``": "“", "''": "”"}[mark]
    before = prose[at - 1] if at else " "
    after = prose[at + 1] if at + 1 < len(prose) else " "
    tie = _TIE_BEFORE.match(before) is not None and not after.isspace()
    return "\u00a0" if tie else "~"  # "~5x", "(~3%)": approximately


def _snippets(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each TeX snippet, in order; touching snippets are merged
    (``\\'\\i``, ``\\hat\\theta``). A ``{`` or ``$`` that opens nothing stays prose."""
    braces = _brace_pairs(text)
    current: tuple[int, int] | None = None
    at = 0
    while at < len(text):
        char = text[at]
        if char == "\\":
            end = _control_sequence_end(text, at, braces)
        elif char == "{":
            end = braces.get(at)
        elif char == "$":
            math = math_span(text, at)
            end = math.end() if math else None
        else:
            at += 1
            continue
        if end is None:
            at += 1
            continue
        if current and current[1] == at:
            current = (current[0], end)
        else:
            if current:
                yield current
            current = (at, end)
        at = end
    if current:
        yield current


def _brace_pairs(text: str) -> dict[int, int]:
    """Each balanced ``{`` → the index after its ``}`` (``\\{`` and ``\\}`` are not braces)."""
    pairs: dict[int, int] = {}
    open_at: list[int] = []
    escaped = False
    for at, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            open_at.append(at)
        elif char == "}" and open_at:
            pairs[open_at.pop()] = at + 1
    return pairs


def _control_sequence_end(text: str, at: int, braces: dict[int, int]) -> int | None:
    """The end of the macro at ``at`` with its ``{…}``/``[…]`` arguments, or None."""
    end = at + 1
    if end >= len(text):
        return None
    char = text[end]
    if not (char.isascii() and char.isalpha()):
        end += 1
        if char in _DELIMITED:  # \( … \) and \[ … \]
            close = text.find(_DELIMITED[char], end)
            return close + 2 if close >= 0 else end
        if char in _ACCENTS and end < len(text):  # \"o, \'{e}
            if text[end] == "{":
                return braces.get(end, end)
            if text[end].isalpha():
                return end + 1
        return end
    while end < len(text) and text[end].isascii() and text[end].isalpha():
        end += 1
    name = text[at + 1 : end]
    if end < len(text) and text[end] == "*":
        end += 1
    end = _arguments_end(text, end, braces)
    if name == "begin":
        environment = text[at + 6 : end]
        close = text.find("\\end" + environment, end)
        if close >= 0:
            return close + 4 + len(environment)
    return end


def _arguments_end(text: str, end: int, braces: dict[int, int]) -> int:
    """After a macro name: past every ``{…}`` and ``[…]`` that follows directly."""
    while end < len(text):
        if text[end] == "{" and end in braces:
            end = braces[end]
        elif text[end] == "[":
            close = text.find("]", end, end + 80)
            if close < 0 or "\n" in text[end:close]:
                break
            end = close + 1
        else:
            break
    return end
