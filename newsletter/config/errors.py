"""Configuration problems, reported as ``file:line: what is wrong — how to fix it``."""

from __future__ import annotations

from pathlib import Path

from newsletter.errors import Problem, UserError

__all__ = ["ConfigError", "Problem", "display_path"]


class ConfigError(UserError):
    """One or more problems a person can fix by editing a file; never shown as a traceback."""


def display_path(path: Path) -> str:
    """Paths relative to the working directory read better in messages than absolute ones."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
