"""The topic language and the matcher: which entries each topic catches, and why.

Pure: depends only on :mod:`newsletter.records` and, for ``stemming: snowball`` topics,
the Snowball stemmer. See docs/matching.md.
"""

from newsletter.match.errors import QuerySyntaxError
from newsletter.match.matcher import Matcher, MatchStats
from newsletter.match.nodes import FIELDS, And, Field, Node, Not, Or, Phrase, Prefix, Term, unparse
from newsletter.match.parser import parse
from newsletter.match.tokens import Token, tokenize

__all__ = [
    "FIELDS",
    "And",
    "Field",
    "MatchStats",
    "Matcher",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Prefix",
    "QuerySyntaxError",
    "Term",
    "Token",
    "parse",
    "tokenize",
    "unparse",
]
