"""The parsed form of a topic query: small frozen dataclasses, and printing them back.

Positions (``pos``) are kept for error messages but excluded from equality, so two
queries that mean the same thing written with different spacing compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsletter.match.tokens import tokenize

__all__ = [
    "FIELDS",
    "FIELD_ALIASES",
    "And",
    "Field",
    "Leaf",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Prefix",
    "Term",
    "unparse",
]

FIELDS = ("title", "abstract", "author", "category", "feed")
"""Fields a query can be restricted to; without one, a query searches title and abstract."""
FIELD_ALIASES = {"summary": "abstract"}
OPERATORS = frozenset({"AND", "OR", "NOT"})


@dataclass(frozen=True, slots=True)
class Term:
    """A single word, matched by stem: ``transformer`` matches "Transformers"."""

    text: str
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear consecutively, in order (quoted, or joined by hyphens/dots)."""

    words: tuple[str, ...]
    raw: str = field(default="", compare=False, repr=False)
    """The text as written (``text-to-speech``), used only to print it back nicely."""
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Prefix:
    """``efficien*``: any token whose folded form starts with the folded prefix (no stemming)."""

    text: str
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Field:
    """``title:(...)``: the child is searched only in that field (never nested)."""

    name: str
    child: Node
    pos: int = field(default=0, compare=False, repr=False)


Leaf = Term | Phrase | Prefix
Node = Term | Phrase | Prefix | Not | And | Or | Field


def unparse(node: Node) -> str:
    """Print a query so that ``parse(unparse(node)) == node``; minimal parentheses."""
    if isinstance(node, Term):
        return f'"{node.text}"' if node.text in OPERATORS else node.text
    if isinstance(node, Phrase):
        return f'"{_phrase_text(node)}"'
    if isinstance(node, Prefix):
        return f"{node.text}*"
    if isinstance(node, Not):
        return "NOT " + _wrapped(node.child, (And, Or))
    if isinstance(node, And):
        return " ".join(_wrapped(c, (And, Or)) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(_wrapped(c, (Or,)) for c in node.children)
    return f"{node.name}:" + _wrapped(node.child, (And, Or, Not))


def _wrapped(node: Node, needs_parens: tuple[type, ...]) -> str:
    text = unparse(node)
    return f"({text})" if isinstance(node, needs_parens) else text


def _phrase_text(node: Phrase) -> str:
    raw = node.raw
    if raw and '"' not in raw and tuple(t.text for t in tokenize(raw)) == node.words:
        return raw
    return " ".join(node.words)
