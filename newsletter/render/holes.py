"""Per-subscriber values that mark where a template prints them.

The fast renderer hands templates these instead of plain strings and numbers. They are
equal to, hash like, compare like and measure like the plain value, so every ``if``, loop,
test and filter in a template sees the real data. Only printing one *unchanged* into HTML
(``{{ card.title }}``, ``join``, ``~``, ``|e``) calls ``__html__``, which — while a
:class:`Recorder` is active — emits a token instead of the escaped text: a hole in the
template's shape, filled per subscriber. A value a template transforms (``|upper``,
slicing, ``format``) comes out as plain text and becomes part of the shape: the output is
still right, the shape is only shared less.

Empty and whitespace-only strings stay plain: an HTML parser may treat a blank text node
differently from a token, so they never become holes.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from markupsafe import Markup, escape


class Recorder:
    """Collects the values printed during one template render; tokens index into them."""

    __slots__ = ("prefix", "values")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values: list[str] = []

    def record(self, value: str) -> Markup:
        self.values.append(value)
        return Markup(f"{self.prefix}{len(self.values) - 1}z")


_current: ContextVar[Recorder | None] = ContextVar("newsletter_render_recorder", default=None)


def start(recorder: Recorder) -> Token[Recorder | None]:
    """Make ``recorder`` the active one (in this thread/context) with no values yet."""
    recorder.values = []
    return _current.set(recorder)


def stop(token: Token[Recorder | None]) -> None:
    _current.reset(token)


class HoleStr(str):
    """A string that becomes a hole when printed unchanged into HTML."""

    __slots__ = ()

    def __html__(self) -> Markup:
        recorder = _current.get()
        if recorder is None:
            return escape(str.__str__(self))
        return recorder.record(str.__str__(self))


class HoleInt(int):
    """A count that becomes a hole when printed unchanged into HTML."""

    __slots__ = ()

    def __html__(self) -> Markup:
        recorder = _current.get()
        if recorder is None:
            return Markup(int.__repr__(self))
        return recorder.record(int.__repr__(self))


# A template's error message names the type of a value it misused ("unsupported operand
# type(s) for /: 'str' and 'int'"); it must read the same as on the plain path.
HoleStr.__name__ = HoleStr.__qualname__ = "str"
HoleInt.__name__ = HoleInt.__qualname__ = "int"


def hole(value: str) -> str:
    """``value`` as a :class:`HoleStr` unless it is blank."""
    return HoleStr(value) if value and not value.isspace() else value


def hole_int(value: int) -> int:
    return HoleInt(value)


def plain(value: Any) -> Any:
    """The plain ``str``/``int`` behind a hole value (anything else unchanged).

    For filters that turn a value into markup (``safe``, ``striptags``, ``urlize``): they
    must see the text, not the hole's token.
    """
    if isinstance(value, HoleStr):
        return str.__str__(value)
    if isinstance(value, HoleInt):
        return int(value)
    return value
