"""Inline once, fill in many times: compiled pieces of already-inlined HTML.

The page is rendered with a placeholder for each per-subscriber string and a marker where
the parts (paper cards, section headings, list rows) go, inlined once, and cut into
pieces. Filling in a subscriber's values needs the exact escaping lxml would have used
for that value at that spot, so each placeholder remembers whether it sits in text or in
an attribute (and which).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped]

_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]*)")
_ATTR = re.compile(r"([^\s=\"'<>/]+)\s*=\s*[\"']?[^\"'<>]*$")
_PLAIN_TEXT = re.compile(r"[^&<>\x00-\x1f\x7f-\xa0]*")
_PLAIN_ATTR = re.compile(r"[!#-%'-;=?-~]*")


@dataclass(frozen=True, slots=True)
class Hole:
    """A per-subscriber value at one spot: in text (``attr`` is None) or in an attribute."""

    index: int
    tag: str
    attr: str | None


Piece = str | Hole


def escape_text(value: str) -> str:
    """``value`` as lxml's HTML serializer writes it in text."""
    if _PLAIN_TEXT.fullmatch(value):
        return value
    element = etree.Element("p")
    element.text = value
    return str(etree.tostring(element, method="html", encoding="utf-8").decode("utf-8"))[3:-4]


def escape_attr(tag: str, attr: str, value: str) -> str:
    """``value`` as lxml's HTML serializer writes it inside ``attr="…"`` of ``tag``.

    libxml2 percent-escapes URL attributes (href, src…) and entity-escapes others, so the
    rare value with special characters goes through lxml itself.
    """
    if _PLAIN_ATTR.fullmatch(value):
        return value
    element = etree.Element(tag)
    element.set(attr, value)
    out = str(etree.tostring(element, method="html", encoding="utf-8").decode("utf-8"))
    start = out.index("=") + 2
    end = out.index(out[start - 1], start)
    return out[start:end]


def compile_pieces(html: str, token: re.Pattern[str], slot: str | None = None) -> list[Piece]:
    """Cut inlined HTML at placeholders (``token`` with the value index as group 1).

    ``slot`` (a marker string) becomes a ``Hole`` with index -1 where parts are inserted.
    """
    pieces: list[Piece] = []
    pattern = token if slot is None else re.compile(f"{token.pattern}|{re.escape(slot)}")
    pos = 0
    for found in pattern.finditer(html):
        if found.start() > pos:
            pieces.append(html[pos : found.start()])
        pos = found.end()
        if found.group(1) is None:
            pieces.append(Hole(-1, "", None))
            continue
        lt = html.rfind("<", 0, found.start())
        gt = html.rfind(">", 0, found.start())
        if lt > gt:
            tag = _TAG.match(html, lt)
            attr = _ATTR.search(html, lt, found.start())
            if tag is None or attr is None:
                raise ValueError("a per-subscriber value sits inside a tag but not in an attribute")
            pieces.append(Hole(int(found.group(1)), tag.group(1).lower(), attr.group(1).lower()))
        else:
            pieces.append(Hole(int(found.group(1)), "p", None))
    if pos < len(html):
        pieces.append(html[pos:])
    return pieces


def fill(pieces: list[Piece], values: list[str], out: list[str]) -> None:
    """Append ``pieces`` to ``out`` with each hole replaced by its escaped value."""
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif piece.attr is None:
            out.append(escape_text(values[piece.index]))
        else:
            out.append(escape_attr(piece.tag, piece.attr, values[piece.index]))
