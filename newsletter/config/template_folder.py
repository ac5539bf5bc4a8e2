"""The ``templates:`` folder, checked as files before Jinja ever reads it.

Whether a template is *correct* is for ``render.check_templates``; this only makes sure
the folder is one: it exists, it is a directory, it holds a handful of readable UTF-8
files and nothing else (``templates: /etc`` would otherwise have Jinja list and read
thousands of files, some binary, some unreadable, some that block on read).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from newsletter.config.errors import Problem, display_path

MAX_FILES = 100
"""Files a templates folder may hold: the defaults are nine; an override needs fewer."""
MAX_FILE_BYTES = 1024 * 1024
"""Largest template file: a digest must stay under 100 KB, its template far below 1 MB."""


def check_template_folder(folder: Path, config_file: str, line: int | None) -> list[Problem]:
    """Problems with ``folder`` (at the ``templates:`` line) or with a file in it (by path)."""
    shown = display_path(folder)
    if not folder.exists():
        return [
            Problem(
                config_file,
                line,
                f"templates folder {shown} does not exist — create it or remove the templates: key",
            )
        ]
    if not folder.is_dir():
        return [
            Problem(
                config_file,
                line,
                f"templates: {shown} is a file, not a folder — point it at the folder that "
                "holds your templates",
            )
        ]
    files, trouble = _list_files(folder)
    if trouble is not None:
        return [Problem(config_file, line, f"templates folder {shown}: {trouble}")]
    if len(files) > MAX_FILES:
        return [
            Problem(
                config_file,
                line,
                f"templates folder {shown} holds more than {MAX_FILES} files — point "
                "templates: at a folder that holds only your own templates",
            )
        ]
    problems: list[Problem] = []
    for path in files:
        problem = _check_file(path)
        if problem is not None:
            problems.append(problem)
    return problems


def _list_files(folder: Path) -> tuple[list[Path], str | None]:
    """Every file below ``folder`` (hidden ones skipped), stopping one past the limit."""
    found: list[Path] = []
    errors: list[OSError] = []
    for root, dirs, names in os.walk(folder, onerror=errors.append):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / name for name in sorted(names) if not name.startswith("."))
        if len(found) > MAX_FILES:
            break
    if errors:
        error = errors[0]
        return [], f"cannot read {error.filename} ({error.strerror}) — check its permissions"
    return found, None


def _check_file(path: Path) -> Problem | None:
    shown = display_path(path)
    fix = "— fix it or remove it from the templates folder"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return Problem(shown, None, f"not a regular file {fix}")
        if info.st_size > MAX_FILE_BYTES:
            return Problem(
                shown, None, f"{info.st_size:,} bytes; a template may have at most 1 MB {fix}"
            )
        data = path.read_bytes()
    except OSError as exc:
        return Problem(shown, None, f"cannot read the file ({exc.strerror or exc}) {fix}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return Problem(
            shown,
            line,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}) — save it as UTF-8, or remove "
            "it from the templates folder if it is not a template",
        )
    return None
