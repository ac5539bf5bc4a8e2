"""arXiv specifics: the ``Announce Type`` prefix, ``dc:creator`` author lists, oai guids.

arXiv's RSS/Atom items carry a summary that starts with
``arXiv:2403.04790v1 Announce Type: new`` followed by ``Abstract: ...``; authors come
as one string ``A, B and C``.
"""

from __future__ import annotations

import re

_PREFIX = re.compile(
    r"^\s*arXiv:(?P<id>\S+?)(?:v(?P<version>\d+))?\s+"
    r"Announce\s+Type:\s*(?P<type>[A-Za-z-]+)\s*(?:Abstract:\s*)?",
    re.IGNORECASE,
)
_ABSTRACT_ONLY = re.compile(r"^\s*Abstract:\s*", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r"\s*[,;]\s*(?:and\s+)?|\s+and\s+")


def split_prefix(summary: str) -> tuple[str, str | None, int | None, str | None]:
    """(abstract, id, version, announce type) from an arXiv summary."""
    match = _PREFIX.match(summary)
    if not match:
        return _ABSTRACT_ONLY.sub("", summary, count=1), None, None, None
    version = match.group("version")
    return (
        summary[match.end() :],
        match.group("id"),
        int(version) if version else None,
        match.group("type").lower(),
    )


def split_authors(names: list[str]) -> tuple[str, ...]:
    """``["A, B and C"]`` → ``("A", "B", "C")``; duplicates and blanks dropped."""
    out: list[str] = []
    for name in names:
        for part in _AUTHOR_SPLIT.split(name):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return tuple(out)
