"""Parsing the topic language into nodes (see docs/matching.md for the rules).

Grammar, lowest precedence first::

    query   := or EOF
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*          # juxtaposition means AND
    unary   := ("NOT" | "-") unary | primary
    primary := FIELD ":" (leaf | "(" or ")") | "(" or ")" | leaf
    leaf    := word | "quoted phrase" | prefix*

Operators are recognised in upper case only; ``and``/``or``/``not`` are ordinary words.

Any string is either a query or a :class:`QuerySyntaxError`: length and nesting are
capped before they can cost memory or stack, and nothing here recurses per character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.match.errors import QuerySyntaxError
from newsletter.match.nodes import (
    FIELD_ALIASES,
    FIELDS,
    OPERATORS,
    And,
    Field,
    Leaf,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Term,
)
from newsletter.match.tokens import tokenize

__all__ = ["parse"]

MAX_DEPTH = 40
"""Nesting limit (parentheses and NOTs): far beyond any real topic, well within Python's stack."""
MAX_LENGTH = 10_000
"""Characters in one query: a long list of alternatives fits; a pasted document does not."""
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters but tab and line breaks (a NUL byte, an escape), and lone surrogates
(undecodable bytes in a command-line argument): nothing to search for, unsafe to print."""
_SHOWN = 40
"""Longest piece of the query quoted back in a message."""

_FIELD_RE = re.compile(r"([A-Za-z]+):")
_FIELD_LIST = ", ".join(f"{f}:" for f in (*FIELDS, *FIELD_ALIASES))


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    """One of ``( ) AND OR NOT FIELD LEAF EOF``."""
    pos: int
    text: str = ""
    leaf: Leaf | None = None


def parse(query: str) -> Node:
    """Parse a topic query; raise :class:`QuerySyntaxError` with the offending column."""
    _check_characters(query)
    node = _Parser(query, _lex(query)).parse()
    _reject_negation_only(node, query)
    return node


def _check_characters(query: str) -> None:
    """Refuse what no topic needs and what would make parsing costly or output unreadable."""
    if len(query) > MAX_LENGTH:
        raise QuerySyntaxError(
            f"query is {len(query):,} characters long, more than {MAX_LENGTH:,}: "
            "split it into several topics",
            MAX_LENGTH,
            query,
        )
    bad = _UNPRINTABLE.search(query)
    if bad is not None:
        code = ord(bad[0])
        what = "a broken character (lone surrogate)" if code >= 0xD800 else "a control character"
        raise QuerySyntaxError(
            f"the query contains {what}, U+{code:04X}: remove it", bad.start(), query
        )


def _shown(text: str) -> str:
    """``text`` for a message, shortened: a message stays one readable line."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            toks.append(_Tok(ch, i))
            i += 1
        elif ch == '"':
            close = query.find('"', i + 1)
            if close < 0:
                raise QuerySyntaxError('unterminated quote: add the closing "', i, query)
            toks.append(_Tok("LEAF", i, leaf=_quoted_leaf(query, query[i + 1 : close], i)))
            i = close + 1
        elif ch == "-":
            nxt = query[i + 1] if i + 1 < n else ""
            if not nxt or nxt.isspace() or nxt == ")":
                raise QuerySyntaxError(
                    "'-' must be directly followed by what to exclude, as in -survey", i, query
                )
            toks.append(_Tok("NOT", i, "-"))
            i += 1
        else:
            end = i
            while end < n and not query[end].isspace() and query[end] not in '()"':
                end += 1
            _lex_word(query, i, end, toks)
            i = end
    toks.append(_Tok("EOF", n))
    return toks


def _lex_word(query: str, start: int, end: int, toks: list[_Tok]) -> None:
    """Lex one space-delimited word: an operator, ``field:...``, or a leaf.

    Right after ``field:`` an operator word is searched for (``title:AND``), and another
    field is an error (``title:author:x``).
    """
    word = query[start:end]
    if word in OPERATORS:
        toks.append(_Tok(word, start, word))
        return
    m = _FIELD_RE.match(word)
    if m is None:
        toks.append(_Tok("LEAF", start, leaf=_word_leaf(query, word, start)))
        return
    name = _field_name(query, m, start, end)
    toks.append(_Tok("FIELD", start, name))
    rest = start + m.end()
    if rest == end:
        if end >= len(query) or query[end] not in '("':
            raise QuerySyntaxError(
                f"expected a word, a \"phrase\" or a (group) right after '{m[0]}', with no space",
                end,
                query,
            )
        return
    if query[rest] == "-":
        raise QuerySyntaxError(
            f"put the minus before the field, as in -{m[0]}{_shown(query[rest + 1 : end])}",
            rest,
            query,
        )
    inner = _FIELD_RE.match(query, rest, end)
    if inner is not None:
        _field_name(query, inner, rest, end)
        raise QuerySyntaxError("a field cannot be nested in another field", rest, query)
    toks.append(_Tok("LEAF", rest, leaf=_word_leaf(query, query[rest:end], rest)))


def _field_name(query: str, m: re.Match[str], pos: int, end: int) -> str:
    """The canonical name of the field ``m`` found at ``pos``, or an error listing them."""
    name = FIELD_ALIASES.get(m[1].lower(), m[1].lower())
    if name not in FIELDS:
        word = query[pos:end]
        raise QuerySyntaxError(
            f"unknown field '{_shown(m[1])}:'; fields are {_FIELD_LIST} "
            f'(quote the text to search for it literally: "{_shown(word)}")',
            pos,
            query,
        )
    return name


def _word_leaf(query: str, word: str, pos: int) -> Leaf:
    star = word.find("*")
    if star >= 0:
        if star != len(word) - 1:
            raise QuerySyntaxError("'*' can only end a word, as in efficien*", pos + star, query)
        body = word[:-1]
        tokens = tokenize(body)
        if len(tokens) != 1 or tokens[0].text != body:
            raise QuerySyntaxError(
                "a prefix search is one word of letters or digits followed by *, as in efficien*",
                pos,
                query,
            )
        return Prefix(body, pos=pos)
    tokens = tokenize(word)
    if not tokens:
        raise QuerySyntaxError(
            f"'{_shown(word)}' has no letters or digits to search for", pos, query
        )
    if len(tokens) == 1:
        return Term(tokens[0].text, pos=pos)
    return Phrase(tuple(t.text for t in tokens), raw=word, pos=pos)


def _quoted_leaf(query: str, text: str, pos: int) -> Leaf:
    tokens = tokenize(text)
    if not tokens:
        raise QuerySyntaxError("empty phrase: put words between the quotes", pos, query)
    if len(tokens) == 1:
        return Term(tokens[0].text, pos=pos)
    return Phrase(tuple(t.text for t in tokens), raw=text, pos=pos)


class _Parser:
    """Recursive descent over the token list; ``depth`` bounds nesting."""

    def __init__(self, query: str, toks: list[_Tok]) -> None:
        self.query = query
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.field: str | None = None

    def error(self, message: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, pos, self.query)

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.tok.kind == "EOF":
            raise self.error("empty query: write at least one word to search for", 0)
        node = self.parse_or()
        if self.tok.kind == ")":
            raise self.error("unmatched ')': remove it or add a '(' before it", self.tok.pos)
        return node

    def parse_or(self) -> Node:
        first = self.tok.pos
        children = [self.parse_and()]
        while self.tok.kind == "OR":
            op = self.take()
            self.expect_operand(op)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children), pos=first)

    def parse_and(self) -> Node:
        first = self.tok.pos
        children = [self.parse_unary()]
        while True:
            if self.tok.kind == "AND":
                op = self.take()
                self.expect_operand(op)
            elif self.tok.kind not in ("NOT", "FIELD", "LEAF", "("):
                break
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else And(tuple(children), pos=first)

    def expect_operand(self, op: _Tok) -> None:
        """After a binary operator or NOT, something to operate on must follow."""
        tok = self.tok
        if tok.kind in ("NOT", "FIELD", "LEAF", "("):
            return
        found = "the end of the query" if tok.kind == "EOF" else f"'{tok.text or tok.kind}'"
        raise self.error(f"expected a word or a (group) after {op.text}, found {found}", tok.pos)

    def parse_unary(self) -> Node:
        if self.tok.kind != "NOT":
            return self.parse_primary()
        op = self.take()
        self.expect_operand(op)
        self.enter(op.pos)
        child = self.parse_unary()
        self.depth -= 1
        return Not(child, pos=op.pos)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"query nested more than {MAX_DEPTH} levels deep", pos)

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "LEAF":
            assert tok.leaf is not None
            return tok.leaf
        if tok.kind == "(":
            return self.parse_group(tok)
        if tok.kind == "FIELD":
            if self.field is not None:
                raise self.error(
                    f"'{tok.text}:' inside '{self.field}:(...)': a field cannot be nested "
                    "in another field",
                    tok.pos,
                )
            inner = self.take()
            if inner.kind == "FIELD":
                raise self.error("a field cannot be nested in another field", inner.pos)
            if inner.kind == "LEAF" and inner.leaf is not None:
                child: Node = inner.leaf
            else:
                self.field = tok.text
                child = self.parse_group(inner)
                self.field = None
            return Field(tok.text, child, pos=tok.pos)
        if tok.kind in ("AND", "OR"):
            raise self.error(f"{tok.text} needs a word or a (group) on its left", tok.pos)
        if tok.kind == ")":
            raise self.error("expected a word before ')'", tok.pos)
        raise self.error("expected a word or a (group) at the end of the query", tok.pos)

    def parse_group(self, open_tok: _Tok) -> Node:
        """The rest of ``( ... )`` after the opening parenthesis ``open_tok``."""
        if self.tok.kind == ")":
            raise self.error("empty parentheses: put a word inside", open_tok.pos)
        self.enter(open_tok.pos)
        node = self.parse_or()
        self.depth -= 1
        if self.tok.kind != ")":
            raise self.error("unclosed '(': add the matching ')'", open_tok.pos)
        self.take()
        return node


def _matches_without_terms(node: Node) -> bool:
    """Whether ``node`` is true for a paper that contains none of its words."""
    if isinstance(node, Not):
        return not _matches_without_terms(node.child)
    if isinstance(node, And):
        return all(_matches_without_terms(c) for c in node.children)
    if isinstance(node, Or):
        return any(_matches_without_terms(c) for c in node.children)
    if isinstance(node, Field):
        return _matches_without_terms(node.child)
    return False


def _first_not(node: Node) -> int:
    if isinstance(node, Not):
        return node.pos
    if isinstance(node, And | Or):
        for child in node.children:
            pos = _first_not(child)
            if pos >= 0:
                return pos
    if isinstance(node, Field):
        return _first_not(node.child)
    return -1


def _reject_negation_only(node: Node, query: str) -> None:
    """A query must require some word to be present, or it would match nearly every paper.

    This is also what makes indexing sound: a paper sharing no word with the query can
    be skipped without evaluating it.
    """
    if _matches_without_terms(node):
        raise QuerySyntaxError(
            "this query matches papers by what they lack alone (it would match almost "
            "everything); add a word that must appear, as in 'speech NOT synthesis'",
            max(_first_not(node), 0),
            query,
        )
