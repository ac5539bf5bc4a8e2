"""arXiv specifics: what its RSS items say about a paper besides its text.

Since 2024 (rss.arxiv.org) an item's summary starts with
``arXiv:2403.04790v1 Announce Type: new`` followed by ``Abstract: ...`` — plain TeX,
although RSS calls it HTML. Before, (arxiv.org/rss, RSS 1.0) the summary was HTML
(``<p>…</p>``) and the title ended in ``(arXiv:1209.2411v1 [math.PR] UPDATED)``.
:func:`read_item` takes both apart. Authors (one string, ``A, B and C``) are read by
:mod:`newsletter.sources.authors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREFIX = re.compile(
    r"^\s*arXiv:(?P<id>\S+?)(?:v(?P<version>\d+))?\s+"
    r"Announce\s+Type:\s*(?P<type>[A-Za-z-]+)\s*(?:Abstract:\s*)?",
    re.IGNORECASE,
)
_ABSTRACT_ONLY = re.compile(r"^\s*Abstract:\s*", re.IGNORECASE)
_TITLE_SUFFIX = re.compile(
    r"\.?\s*\(arXiv:(?P<id>\S+?)(?:v(?P<version>\d+))?\s+\[[^\]]*\]"
    r"(?:\s+(?P<kind>UPDATED|CROSS\s+LISTED))?\)\s*$",
    re.IGNORECASE,
)
_SUFFIX_KINDS = {None: "new", "updated": "replace", "cross listed": "cross"}


@dataclass(frozen=True, slots=True)
class ArxivItem:
    """An arXiv item's title and summary without arXiv's additions, and what they said."""

    title: str
    summary: str
    arxiv_id: str | None = None
    version: int | None = None
    announce_type: str | None = None
    summary_is_tex: bool = False
    """The 2024 format: the summary is TeX as plain text, never HTML."""


def read_item(title: str, summary: str) -> ArxivItem:
    """Split the ``Announce Type`` prefix off the summary, the ``(arXiv:…)`` suffix off
    the title (both formats; the prefix wins where they disagree)."""
    prefix = _PREFIX.match(summary)
    suffix = _TITLE_SUFFIX.search(title)
    if suffix:
        title = title[: suffix.start()]
    summary = summary[prefix.end() :] if prefix else _ABSTRACT_ONLY.sub("", summary, count=1)
    found = prefix or suffix
    if found is None:
        return ArxivItem(title, summary)
    version = found.group("version")
    if prefix:
        announce = prefix.group("type").lower()
    else:
        assert suffix is not None
        kind = suffix.group("kind")
        announce = _SUFFIX_KINDS[" ".join(kind.lower().split()) if kind else None]
    return ArxivItem(
        title,
        summary,
        arxiv_id=found.group("id"),
        version=int(version) if version else None,
        announce_type=announce,
        summary_is_tex=prefix is not None,
    )
