"""pylatexenc, set up to read the TeX snippets of abstracts (see ``tex``).

:func:`read_snippet` turns one snippet — a math span, a macro with its arguments, a
brace group — into Unicode. Beyond pylatexenc's defaults: sizing macros (``\\left``,
``\\big``) read as nothing, ``\\operatorname{Tr}`` as Tr, a macro pylatexenc does not
know stays as written (an author's ``\\ours``) instead of vanishing, and ``\\cite{…}``
stays as written rather than becoming ``<cit.>``. Whatever pylatexenc raises on, the
snippet comes back unchanged.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from pylatexenc import latexwalker, macrospec  # type: ignore[import-untyped]
from pylatexenc.latex2text import (  # type: ignore[import-untyped]
    LatexNodes2Text,
    MacroTextSpec,
    get_default_latex_context_db,
)

_AS_WRITTEN = frozenset({"cite", "citep", "citet", "ref", "eqref", "label", "verb"})
"""Known macros whose pylatexenc text (``<cit.>``, nothing) says less than the source."""
_ONE_ARGUMENT = ("boldsymbol", "bm", "textsuperscript", "textsubscript")
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

_MATH = re.compile(r"\$\$(?:[^$\\]|\\.)+?\$\$|\$(?![\s$])((?:[^$\\]|\\.)+?)\$(?!\d)", re.DOTALL)
_MATHLIKE = re.compile(r"[\\^_{}=]")
_DOLLAR = re.compile(r"(?<!\\)\$")
_LITERAL = re.compile(r"(?<!\\)([%&#])")
_MACRO_BEFORE_LETTER = re.compile(r"(\\[A-Za-z]+)(?=[^\W\d_\x00-\x7f])")
"""``\\mathbfθ``: TeX ends a macro name at a non-ASCII letter, pylatexenc does not."""

logging.getLogger("pylatexenc").setLevel(logging.ERROR)  # it warns on every oddity


def math_span(text: str, at: int) -> re.Match[str] | None:
    """The ``$…$`` or ``$$…$$`` span starting at ``at``, if it is math.

    Much as pandoc reads it: the opening ``$`` hugs its content, no digit follows the
    closing one, and the closing one hugs the content too unless the content looks
    like TeX (``$x_i $``). So ``$5 and $10`` is money, not math.
    """
    match = _MATH.match(text, at)
    if match is None:
        return None
    inner = match[1]
    if inner is not None and inner[-1].isspace() and not _MATHLIKE.search(inner):
        return None
    return match


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
    macros = [MacroTextSpec(name, discard=False) for name in (*_ONE_ARGUMENT, "operatorname")]
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


@functools.lru_cache(maxsize=4096)
def read_snippet(snippet: str) -> str:
    """One TeX snippet as Unicode (cached: ``$k$``, ``$\\alpha$`` recur in every feed)."""
    try:
        return str(
            _READER.latex_to_text(_escaped(snippet), latex_context=_PARSING, tolerant_parsing=True)
        )
    except Exception:  # pylatexenc raises IndexError, KeyError, RecursionError on garbage
        return snippet


def _escaped(snippet: str) -> str:
    """``%``, ``&``, ``#`` and a ``$`` outside math are characters in an abstract."""
    snippet = _LITERAL.sub(r"\\\1", _MACRO_BEFORE_LETTER.sub(r"\1 ", snippet))
    pieces: list[str] = []
    start = 0
    for at in (m.start() for m in _DOLLAR.finditer(snippet)):
        if at < start:
            continue
        math = math_span(snippet, at)
        pieces.append(snippet[start:at])
        pieces.append(math[0] if math else r"\$")
        start = math.end() if math else at + 1
    pieces.append(snippet[start:])
    return "".join(pieces)
