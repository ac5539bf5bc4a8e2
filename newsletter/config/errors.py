"""Configuration problems, reported as ``file:line: what is wrong — how to fix it``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    message: str
    detail: str = ""
    """Extra lines shown under the message (e.g. a query with a caret under the bad column)."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.message}"
        if self.detail:
            text += "\n" + "\n".join("    " + line for line in self.detail.splitlines())
        return text


class ConfigError(Exception):
    """One or more problems a person can fix by editing a file; never shown as a traceback."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def display_path(path: Path) -> str:
    """Paths relative to the working directory read better in messages than absolute ones."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
