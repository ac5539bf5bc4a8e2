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

from pylatexenc import latexwalker, macrospec  # type: ignore[import-untyped]
from pylatexenc.latex2text import (  # type: ignore[import-untyped]
    LatexNodes2Text,
    MacroTextSpec,
    get_default_latex_context_db,
)

MAX_TEX_CHARS = 20_000
"""Longer input is returned as it is (an abstract is a few thousand characters)."""

_TEX_HINT = re.compile(r"[\\${}~]|--|``|''")
"""Without any of these, TeX reading would change nothing: skip the parser."""
_URL = re.compile(r"https?://[^\s{}$\\]+[^\s{}$\\.,;:!?)\]'\"]")
_URL_MACRO = re.compile(r"\\url\{([^{}]*)\}")
_HREF_MACRO = re.compile(r"\\href\{([^{}]*)\}\{([^{}]*)\}")
_MATH = re.compile(r"\$\$(?:[^$\\]|\\.)+?\$\$|\$(?![\s$])((?:[^$\\]|\\.)+?)\$(?!\d)", re.DOTALL)
_MATHLIKE = re.compile(r"[\\^_{}=]")
"""Math much as pandoc reads it: the opening ``$`` hugs its content, no digit follows
the closing one, and the closing one hugs the content too unless it looks like TeX
(``$x_i $``). So ``$5 and $10`` is money, not math."""
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
_ONE_ARGUMENT = ("operatorname", "boldsymbol", "bm", "textsuperscript", "textsubscript")
"""Macros pylatexenc does not know that wrap one argument: the argument is the text."""
_SPELLED = {
    "colon": ":", "|": "‖", "arg": "arg", "Pr": "Pr", "det": "det", "deg": "deg",
    "gcd": "gcd", "ker": "ker", "dim": "dim", "hom": "hom", "lg": "lg",
    "xrightarrow": "→", "xleftarrow": "←",
}  # fmt: skip
_INVISIBLE = (
    "left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl",
    "Bigr", "biggl", "biggr", "Biggl", "Biggr", "displaystyle", "textstyle",
    "scriptstyle", "limits", "nolimits", "!",
)  # fmt: skip
"""Sizing and spacing that has no text: ``\\left(`` is ``(``."""
_MACRO_BEFORE_LETTER = re.compile(r"(\\[A-Za-z]+)(?=[^\W\d_\x00-\x7f])")
"""``\\mathbfθ``: TeX ends a macro name at a non-ASCII letter, pylatexenc does not."""

logging.getLogger("pylatexenc").setLevel(logging.ERROR)  # it warns on every oddity


def _parsing_context() -> Any:
    """What the parser needs to know: the arguments of the macros added here."""
    context = latexwalker.get_default_latex_context_db()
    macros = [macrospec.MacroSpec(name, "{") for name in _ONE_ARGUMENT]
    macros.append(macrospec.MacroSpec("operatorname", "*{"))
    macros += [macrospec.MacroSpec(name, "[{") for name in ("xrightarrow", "xleftarrow")]
    context.add_context_category("newsletter", macros=macros, prepend=True)
    return context


def _text_context() -> Any:
    """What each macro reads as, with the additions above."""
    context = get_default_latex_context_db()
    macros = [MacroTextSpec(name, discard=False) for name in _ONE_ARGUMENT]
    macros += [MacroTextSpec(name, simplify_repl=text) for name, text in _SPELLED.items()]
    macros += [MacroTextSpec(name, discard=True) for name in _INVISIBLE]
    context.add_context_category("newsletter", macros=macros, prepend=True)
    return context


class _Reader(LatexNodes2Text):  # type: ignore[misc]
    """pylatexenc's converter, keeping unknown macros as written instead of dropping them.

    A macro the parser knows but the converter does not (``\\texttt{x}``) reads as
    its arguments.
    """

    def macro_node_to_text(self, node: Any) -> str:
        name = node.macroname
        if name in _AS_WRITTEN:
            return str(node.latex_verbatim())
        if self.latex_context.get_macro_spec(name) is None:
            arguments = node.nodeargd.argnlist if node.nodeargd else None
            if not arguments or not any(arguments):
                return str(node.latex_verbatim())
            return "".join(self._groupnodecontents_to_text(a) for a in arguments if a)
        return str(super().macro_node_to_text(node))


_PARSING = _parsing_context()
_READER = _Reader(latex_context=_text_context(), math_mode="text")


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
        return str(
            _READER.latex_to_text(_prepare(text), latex_context=_PARSING, tolerant_parsing=True)
        )
    except Exception:  # pylatexenc raises IndexError, KeyError, RecursionError on garbage
        return text


def _prepare(text: str) -> str:
    """Escape what abstracts use as plain characters, so pylatexenc keeps them."""
    text = _NAMED_MACRO.sub(lambda m: _NAMED[m[1]], text)
    text = _MACRO_BEFORE_LETTER.sub(r"\1 ", text)
    text = _LITERAL.sub(r"\\\1", text)
    text = _TILDE.sub(lambda m: _tilde(m.string, m.start()), text)
    pieces: list[str] = []
    start = 0
    for math in _MATH.finditer(text):
        inner = math[1]
        if inner is not None and inner[-1].isspace() and not _MATHLIKE.search(inner):
            continue
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
