"""The one error a person writing a topic can cause, with where it happened."""

from __future__ import annotations

import unicodedata

__all__ = ["QuerySyntaxError"]


class QuerySyntaxError(ValueError):
    """A topic query that cannot be parsed; ``column`` is a 0-based offset into ``query``.

    ``str(error)`` is a one-line message; ``caret()`` adds the query and a caret under the
    offending column, for ``check`` to print below ``file:line: message``.
    """

    def __init__(self, message: str, column: int, query: str) -> None:
        super().__init__(message)
        self.message = message
        self.column = max(0, min(column, len(query)))
        self.query = query

    def __str__(self) -> str:
        return f"{self.message} (column {self.column + 1})"

    def caret(self) -> str:
        """Two lines: the query line holding the column, and a caret under that column.

        Multi-line YAML queries show only the offending line, and a long line only the
        part around the column (``…`` marks what is cut). Tabs are kept, wide (East
        Asian) characters take two cells, so the caret lines up in a terminal; control
        characters show as ``�``.
        """
        line_start = self.query.rfind("\n", 0, self.column) + 1
        line_end = self.query.find("\n", self.column)
        line_end = len(self.query) if line_end < 0 else line_end
        first = max(line_start, self.column - _BEFORE)
        last = min(line_end, self.column + _AFTER)
        head = "…" if first > line_start else ""
        tail = "…" if last < line_end else ""
        line = head + _printable(self.query[first:last]) + tail
        pad = "".join(_cell(ch) for ch in head + _printable(self.query[first : self.column]))
        return f"{line}\n{pad}^"


# How much of a long query line the caret shows, before and after the column.
_BEFORE = 60
_AFTER = 20


def _printable(text: str) -> str:
    return "".join(
        "\ufffd" if ch != "\t" and unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text
    )


def _cell(ch: str) -> str:
    if ch == "\t":
        return "\t"
    if unicodedata.combining(ch):
        return ""
    return "  " if unicodedata.east_asian_width(ch) in "WF" else " "
