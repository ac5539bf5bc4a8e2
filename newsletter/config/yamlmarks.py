"""YAML loading that remembers the line of every key and list item, so errors can say where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from newsletter.config.errors import ConfigError, Problem, display_path

Loc = tuple[str | int, ...]


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


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*loc, key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines)


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse one YAML file; a syntax error becomes a ConfigError with the file and line."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [Problem(shown, None, "file not found — create it or point --config at the right file")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(shown, None, f"cannot read the file ({exc})")]) from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        return_problem = Problem(
            shown, line, f"YAML syntax error: {problem} — check indentation, colons and quotes"
        )
        raise ConfigError([return_problem]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(shown, None, f"YAML error: {exc}")]) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines)
    return data, LineMap(lines)
