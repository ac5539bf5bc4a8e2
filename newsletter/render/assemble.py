"""Inline once, fill in many times: a template's output with holes, compiled into pieces.

A *shape* is what a template printed with every per-subscriber value replaced by a token
(:mod:`newsletter.render.holes`) and every run of adjacent parts by a group marker. It is
inlined once with premailer and cut into pieces: static text, value holes and group holes.
Filling a value hole needs the exact escaping lxml's serializer would have used for that
value at that spot, so each hole remembers whether it sits in text or in an attribute (and
which). A value in a spot whose output premailer itself depends on — a ``class``, ``id`` or
``style`` attribute, a ``<style>`` or ``<script>`` element, a comment — cannot be a hole:
:class:`Unsupported` tells the renderer to fall back to the naive path.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped]

from newsletter.render import encoding, inline

_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]*)")
_ATTR = re.compile(r"([^\s=\"'<>/]+)\s*=\s*[\"']?[^\"'<>]*$")
_PLAIN_TEXT = re.compile(r"[^&<>\x00-\x1f\x7f-\xa0]*")
_PLAIN_ATTR = re.compile(r"[!#-%'-;=?-~]*")
_RAW_TEXT = ("style", "script", "title", "textarea")
_STYLED_ATTRS = frozenset({"class", "id", "style"})


class Unsupported(Exception):
    """A shape puts a per-subscriber value where it cannot be filled in after inlining."""


@dataclass(frozen=True, slots=True)
class ValueHole:
    """A per-subscriber value at one spot: in text (``attr`` is None) or in an attribute."""

    index: int
    tag: str
    attr: str | None


@dataclass(frozen=True, slots=True)
class GroupHole:
    """Where a run of parts goes (the ``index``-th group of the template's output)."""

    index: int


Piece = encoding.Chunk | ValueHole | GroupHole
"""Static text (with its encoding prepared), a value hole or a group hole."""


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


def _in_comment(html: str, pos: int) -> bool:
    return html.rfind("<!--", 0, pos) > html.rfind("-->", 0, pos)


def _in_raw_text(html: str, pos: int) -> bool:
    lowered = html[:pos].lower()
    return any(lowered.rfind(f"<{tag}") > lowered.rfind(f"</{tag}") for tag in _RAW_TEXT)


def _value_hole(html: str, start: int, index: int) -> ValueHole:
    if _in_comment(html, start):
        raise Unsupported("a per-subscriber value inside an HTML comment")
    lt = html.rfind("<", 0, start)
    gt = html.rfind(">", 0, start)
    if lt > gt:
        tag = _TAG.match(html, lt)
        attr = _ATTR.search(html, lt, start)
        if tag is None or attr is None:
            raise Unsupported("a per-subscriber value inside a tag but not in an attribute")
        name = attr.group(1).lower()
        if name in _STYLED_ATTRS or name.startswith("on"):
            raise Unsupported(f"a per-subscriber value in a {name}= attribute")
        return ValueHole(index, tag.group(1).lower(), name)
    if _in_raw_text(html, start):
        raise Unsupported("a per-subscriber value inside <style>, <script>, <title> or similar")
    return ValueHole(index, "p", None)


def compile_shape(
    html: str, token: re.Pattern[str], group: str, expected: Counter[int], groups: int
) -> list[Piece]:
    """Cut inlined HTML at value tokens (``token``, value index as group 1) and at group
    markers (``group``); static text gets :func:`inline.break_lines`.

    ``expected`` counts each value token in the template's output and ``groups`` the group
    markers: inlining must keep every one of them, or the shape cannot be filled in.
    """
    pieces: list[Piece] = []
    found: Counter[int] = Counter()
    group_count = 0
    pattern = re.compile(f"{token.pattern}|{re.escape(group)}")
    pos = 0
    for match in pattern.finditer(html):
        if match.start() > pos:
            pieces.append(encoding.chunk(inline.break_lines(html[pos : match.start()])))
        pos = match.end()
        if match.group(1) is None:
            lt = html.rfind("<", 0, match.start())
            if lt > html.rfind(">", 0, match.start()) or _in_comment(html, match.start()):
                raise Unsupported("a part printed inside a tag or a comment")
            pieces.append(GroupHole(group_count))
            group_count += 1
            continue
        index = int(match.group(1))
        found[index] += 1
        pieces.append(_value_hole(html, match.start(), index))
    if pos < len(html):
        pieces.append(encoding.chunk(inline.break_lines(html[pos:])))
    if found != expected or group_count != groups:
        raise Unsupported("inlining dropped or moved a per-subscriber value or a part")
    return pieces


Filled = str | encoding.Chunk
"""Filled-in HTML: escaped values as strings, kept pieces and parts as chunks."""


def fill(
    pieces: list[Piece], values: list[str], groups: list[list[Filled]], out: list[Filled]
) -> None:
    """Append ``pieces`` to ``out`` with each value hole replaced by its escaped value and
    each group hole by the HTML of its parts (static pieces and parts are appended as they
    are, with their prepared encodings)."""
    for piece in pieces:
        if isinstance(piece, encoding.Chunk):
            out.append(piece)
        elif isinstance(piece, GroupHole):
            out.extend(groups[piece.index])
        elif piece.attr is None:
            out.append(escape_text(values[piece.index]))
        else:
            out.append(escape_attr(piece.tag, piece.attr, values[piece.index]))
