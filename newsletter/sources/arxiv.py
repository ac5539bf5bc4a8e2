"""arXiv specifics: the ``Announce Type`` prefix of its RSS/Atom summaries.

arXiv's items carry a summary that starts with ``arXiv:2403.04790v1 Announce Type: new``
followed by ``Abstract: ...``. Its authors (one string, ``A, B and C``) are read by
:mod:`newsletter.sources.authors`.
"""

from __future__ import annotations

import re

_PREFIX = re.compile(
    r"^\s*arXiv:(?P<id>\S+?)(?:v(?P<version>\d+))?\s+"
    r"Announce\s+Type:\s*(?P<type>[A-Za-z-]+)\s*(?:Abstract:\s*)?",
    re.IGNORECASE,
)
_ABSTRACT_ONLY = re.compile(r"^\s*Abstract:\s*", re.IGNORECASE)


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
