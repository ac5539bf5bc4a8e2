"""Characters a config value must never hold, and how to name them in a message.

Control characters end up in mail headers, file names and log lines; U+0085, U+2028 and
U+2029 are line breaks to some readers and not to others (YAML counts them, editors often
do not, so line numbers drift); bidirectional controls make text display in a different
order than it is read ("Trojan Source"). None of them is ever meant in a config file.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_LINE_SEPARATORS = "\u2028\u2029"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"

IN_FILE = re.compile(f"[{_CONTROLS}{_LINE_SEPARATORS}{_BIDI}]")
"""Forbidden anywhere in a config file's text (tab, LF and CR as a line end are fine)."""

IN_VALUE = re.compile(f"[{_CONTROLS}\r{_LINE_SEPARATORS}{_BIDI}\ud800-\udfff]")
"""Forbidden in a loaded value (a YAML escape such as ``"\\r"`` or ``"\\u2028"`` can make
them); tab and line feed are judged by the field (see ``SingleLine``)."""

_NAMES = {"\x85": "NEXT LINE (NEL)"}


def describe(char: str) -> str:
    """``U+2028 LINE SEPARATOR`` — the code point and, where Unicode has one, the name."""
    name = _NAMES.get(char) or unicodedata.name(char, "")
    if not name:
        name = "control character" if unicodedata.category(char) == "Cc" else "invisible character"
    return f"U+{ord(char):04X} {name}"


def forbidden_message(char: str, what: str = "this value") -> str:
    return (
        f"{what} contains {describe(char)}, which is invisible and never meant here "
        "— delete it (retype the text if it was pasted)"
    )


def check_clean(value: str) -> str:
    """Raise ValueError naming the first forbidden character; return ``value`` otherwise."""
    found = IN_VALUE.search(value)
    if found:
        raise ValueError(forbidden_message(found.group()))
    return value
