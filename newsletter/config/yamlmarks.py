"""YAML loading that remembers the line of every key and list item, so errors can say where.

The loader is also the first line of defence against a hostile or broken file: it reads
at most ``MAX_BYTES``, refuses anchors and aliases outright (an 800-byte "billion laughs"
expands to gigabytes, and a config file never needs them), refuses nesting deeper than
``MAX_DEPTH`` (PyYAML composes recursively, so 5,000 levels would be a RecursionError),
turns a value PyYAML cannot construct (``2026-13-01``, an integer of 5,000 digits) into a
message, and reports invisible control characters and duplicate keys by line.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsletter.config import characters
from newsletter.config.errors import ConfigError, Problem, display_path

Loc = tuple[str | int, ...]

MAX_BYTES = 64 * 1024 * 1024
"""Largest config file read (100,000 subscribers take about 10 MB)."""
MAX_DEPTH = 20
"""Deepest nesting of mappings and lists; the real files need 7 levels."""
MAX_REPORTED = 20
"""Character problems listed per file before the rest are summed up in one line."""


class LineMap:
    """Maps a location inside the loaded data (as pydantic reports it) to a 1-based line."""

    def __init__(self, lines: dict[Loc, int]) -> None:
        self._lines = lines

    def line(self, loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            found = self._lines.get(tuple(loc[:end]))
            if found is not None:
                return found
        return None


@dataclass
class YamlDocument:
    """One parsed file: the plain data, where each part of it was, and what is wrong in it.

    ``problems`` are faults of single values (a control character, a key given twice); the
    data is still whole, so the caller validates it too and reports everything at once.
    """

    data: Any
    lines: LineMap
    problems: list[Problem] = field(default_factory=list)


class _Refused(yaml.MarkedYAMLError):
    """Something the guarded loader will not read; ``problem`` already says how to fix it."""


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader without anchors or aliases, with a depth limit and marked value errors."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                problem="YAML anchors and aliases (&name, *name, <<: *name) are not supported "
                "— write the value out in full",
                problem_mark=event.start_mark,
            )
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                problem=f"nested more than {MAX_DEPTH} levels deep — a config file needs far "
                "fewer; check the indentation and the brackets",
                problem_mark=event.start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            shown = str(node.value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            reason = str(exc).partition(";")[0]
            raise _Refused(
                problem=f"cannot read {shown!r} ({reason}) — correct the value, or put it in "
                "quotes to keep it as text",
                problem_mark=node.start_mark,
            ) from None


def _read_text(path: Path, shown: str) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                [Problem(shown, None, "not a regular file — give the path of a YAML file")]
            )
        if info.st_size > MAX_BYTES:
            raise ConfigError(
                [
                    Problem(
                        shown,
                        None,
                        f"the file is {info.st_size // 1_000_000} MB; at most "
                        f"{MAX_BYTES // 1024 // 1024} MB are read — split it or remove entries",
                    )
                ]
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            [Problem(shown, None, "file not found — create it or point --config at the right file")]
        ) from None
    except OSError as exc:
        raise ConfigError(
            [Problem(shown, None, f"cannot read the file ({exc.strerror or exc}) — check it")]
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [
                Problem(
                    shown,
                    line,
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}) — save the file as UTF-8",
                )
            ]
        ) from None


def _scrub(text: str, shown: str) -> tuple[str, list[Problem]]:
    """Report every forbidden character in the raw text and replace it with U+FFFD, so the
    file still parses (with editor-true line numbers) and its other problems show too."""
    problems: list[Problem] = []
    line, last, count = 1, 0, 0
    for found in characters.IN_FILE.finditer(text):
        count += 1
        if count <= MAX_REPORTED:
            line += text.count("\n", last, found.start())
            last = found.start()
            problems.append(
                Problem(shown, line, characters.forbidden_message(found.group(), "this line"))
            )
    if count > MAX_REPORTED:
        problems.append(
            Problem(
                shown,
                None,
                f"{count - MAX_REPORTED} more invisible control characters — was this file "
                "saved by a word processor? Save it as plain UTF-8 text",
            )
        )
    if count:
        text = characters.IN_FILE.sub("\ufffd", text)
    return text, problems


def _reader_line(text: str, error: yaml.reader.ReaderError) -> int | None:
    position = error.position
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def _walk(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[Problem], shown: str
) -> None:
    if isinstance(node, yaml.MappingNode):
        first: dict[object, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in first:
                problems.append(
                    Problem(
                        shown,
                        line,
                        f"key {key!r} is given twice (also on line {first[key]}) — keep one; "
                        "YAML would silently use the last",
                    )
                )
            first.setdefault(key, line)
            child = (*loc, key)
            lines[child] = line
            _walk(key_node, child, lines, problems, shown)
            _walk(value_node, child, lines, problems, shown)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, problems, shown)
    elif isinstance(node, yaml.ScalarNode) and isinstance(node.value, str):
        found = characters.IN_VALUE.search(node.value)
        if found:
            problems.append(
                Problem(
                    shown,
                    node.start_mark.line + 1,
                    characters.forbidden_message(found.group()),
                )
            )


def load_yaml(path: Path) -> YamlDocument:
    """Parse one YAML file; a file that cannot be read at all raises ConfigError."""
    shown = display_path(path)
    text, problems = _scrub(_read_text(path, shown), shown)
    try:
        loader = _GuardedLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _Refused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError([*problems, Problem(shown, line, exc.problem or "")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        message = f"YAML syntax error: {problem} — check indentation, colons and quotes"
        raise ConfigError([*problems, Problem(shown, line, message)]) from None
    except yaml.reader.ReaderError as exc:
        if isinstance(exc.character, int):
            message = f"character U+{exc.character:04X} cannot appear in YAML — delete it"
        else:
            message = f"YAML cannot read this file ({exc.reason}) — save it as UTF-8 text"
        raise ConfigError([*problems, Problem(shown, _reader_line(text, exc), message)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([*problems, Problem(shown, None, f"YAML error: {exc}")]) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, problems, shown)
    return YamlDocument(data, LineMap(lines), problems)
