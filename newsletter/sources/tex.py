"""TeX as readable Unicode, for text that is written in TeX: arXiv titles and abstracts.

``Schr\\"odinger`` → Schrödinger, ``\\&`` → &, ``--`` → –, ``$1<p<2+\\varepsilon$`` →
1<p<2+ε. pylatexenc does the reading; around it this module keeps what arXiv authors
mean rather than what TeX would do: ``%`` and ``&`` are characters, not a comment and
an alignment tab; ``~`` before a number is "approximately", not a space; URLs are
left as written; macros pylatexenc does not know (``\\eg``, an author's ``\\ours``)
stay as written instead of vanishing. Input that is too long, or that pylatexenc
chokes on, comes back unchanged: reading TeX must never cost a feed.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pylatexenc.latex2text import LatexNodes2Text  # type: ignore[import-untyped]

MAX_TEX_CHARS = 20_000
"""Longer input is returned as it is (an abstract is a few thousand characters)."""

_TEX_HINT = re.compile(r"[\\${}~]|--|``|''")
"""Without any of these, TeX reading would change nothing: skip the parser."""
_URL = re.compile(r"https?://[^\s{}$\\]+[^\s{}$\\.,;:!?)\]'\"]")
_URL_MACRO = re.compile(r"\\url\{([^{}]*)\}")
_HREF_MACRO = re.compile(r"\\href\{([^{}]*)\}\{([^{}]*)\}")
_MATH = re.compile(
    r"\$\$(?:[^$\\]|\\.)+?\$\$|\$(?![\s$])(?:[^$\\]|\\.)+?(?<![\s\\])\$(?!\d)", re.DOTALL
)
"""Math as pandoc reads it: ``$`` hugs its content and no digit follows the closing one,
so ``$5 and $10`` is money, not math."""
_DOLLAR = re.compile(r"(?<!\\)\$")
_LITERAL = re.compile(r"(?<!\\)([%&#])")
_TILDE = re.compile(r"(?<!\\)~")
_TIE_BEFORE = re.compile(r"[\w.,;:)\]}]")
_NAMED = {
    "eg": "e.g.", "ie": "i.e.", "etal": "et al.", "cf": "cf.", "etc": "etc.",
    "vs": "vs.", "wrt": "w.r.t.", "TeX": "TeX", "LaTeX": "LaTeX",
}  # fmt: skip
"""Macros common in abstracts (CVPR's ``\\eg``) that pylatexenc drops; like CVPR's
definitions they absorb a period that follows (``\\etal.``)."""
_NAMED_MACRO = re.compile(r"\\(" + "|".join(_NAMED) + r")(?![A-Za-z])(?:\{\})?\.?")
_AS_WRITTEN = frozenset({"cite", "citep", "citet", "ref", "eqref", "label", "verb"})
"""Known macros whose pylatexenc text (``<cit.>``, nothing) says less than the source."""

logging.getLogger("pylatexenc").setLevel(logging.ERROR)  # it warns on every oddity


class _Reader(LatexNodes2Text):  # type: ignore[misc]
    """pylatexenc's converter, keeping unknown macros instead of dropping them."""

    def macro_node_to_text(self, node: Any) -> str:
        name = node.macroname
        if name in _AS_WRITTEN or self.latex_context.get_macro_spec(name) is None:
            return str(node.latex_verbatim())
        return str(super().macro_node_to_text(node))


_READER = _Reader(math_mode="text")


def tex_to_text(text: str) -> str:
    """``text`` with its TeX read into Unicode; unchanged when it is not TeX enough."""
    if not _TEX_HINT.search(text) or len(text) > MAX_TEX_CHARS:
        return text
    text = _HREF_MACRO.sub(r"\2 (\1)", _URL_MACRO.sub(r"\1", text))
    pieces: list[str] = []
    start = 0
    for url in _URL.finditer(text):
        pieces.append(_read_segment(text[start : url.start()]))
        pieces.append(url[0])
        start = url.end()
    pieces.append(_read_segment(text[start:]))
    return "".join(pieces)


def _read_segment(text: str) -> str:
    if not _TEX_HINT.search(text):
        return text
    try:
        return str(_READER.latex_to_text(_prepare(text)))
    except Exception:  # pylatexenc raises IndexError, KeyError, RecursionError on garbage
        return text


def _prepare(text: str) -> str:
    """Escape what abstracts use as plain characters, so pylatexenc keeps them."""
    text = _NAMED_MACRO.sub(lambda m: _NAMED[m[1]], text)
    text = _LITERAL.sub(r"\\\1", text)
    text = _TILDE.sub(lambda m: _tilde(m.string, m.start()), text)
    pieces: list[str] = []
    start = 0
    for math in _MATH.finditer(text):
        pieces.append(_DOLLAR.sub(r"\\$", text[start : math.start()]))
        pieces.append(math[0])
        start = math.end()
    pieces.append(_DOLLAR.sub(r"\\$", text[start:]))
    return "".join(pieces)


def _tilde(text: str, at: int) -> str:
    """``Fig.~3`` is a tie (a space); ``~5x`` and ``(~3%)`` mean "approximately"."""
    before = text[at - 1] if at else " "
    after = text[at + 1] if at + 1 < len(text) else " "
    if _TIE_BEFORE.match(before) and not after.isspace():
        return "~"
    return r"\textasciitilde{}"
