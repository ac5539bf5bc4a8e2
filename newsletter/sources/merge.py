"""One paper, one entry: combine sightings of the same work from different feeds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from newsletter import records

REPLACE_TYPES = frozenset({"replace", "replace-cross"})


def is_update(old: records.Entry, new: records.Entry) -> bool:
    """True when ``new`` is a later version (an arXiv ``replace``) of the paper in ``old``.

    The lead uses this to list a revised paper under "Updated" instead of mailing it
    again as new.
    """
    if old.key != new.key:
        return False
    if old.version is not None and new.version is not None:
        return new.version > old.version
    return new.announce_type in REPLACE_TYPES and old.announce_type not in REPLACE_TYPES


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(first + second))


def merge_entries(old: records.Entry, new: records.Entry) -> records.Entry:
    """The stored entry after a later sighting of the same key.

    Categories and feeds are united and popularity takes the highest count. Text
    fields come from the first sighting, unless the new one is a later version, whose
    title and abstract win. The published date and first-seen time never move later.
    """
    if old.key != new.key:
        raise ValueError(f"cannot merge different entries {old.key!r} and {new.key!r}")
    newer = is_update(old, new)
    base, other = (new, old) if newer else (old, new)
    popularity = [p for p in (old.popularity, new.popularity) if p is not None]
    versions = [v for v in (old.version, new.version) if v is not None]
    first_seen = [t for t in (old.first_seen, new.first_seen) if t is not None]
    return replace(
        base,
        title=base.title or other.title,
        link=base.link or other.link,
        published=min(old.published, new.published),
        abstract=base.abstract or other.abstract,
        authors=base.authors or other.authors,
        categories=_union(old.categories, new.categories),
        feeds=_union(old.feeds, new.feeds),
        pdf_link=base.pdf_link or other.pdf_link,
        popularity=max(popularity) if popularity else None,
        arxiv_id=base.arxiv_id or other.arxiv_id,
        version=max(versions) if versions else None,
        announce_type=base.announce_type or other.announce_type,
        first_seen=min(first_seen) if first_seen else None,
    )


def combine(entries: Iterable[records.Entry]) -> list[records.Entry]:
    """Entries with duplicate keys merged, in order of first appearance.

    Handy for a fetch run where two feeds (two arXiv categories, arXiv and Hugging
    Face) carried the same paper.
    """
    by_key: dict[str, records.Entry] = {}
    for entry in entries:
        seen = by_key.get(entry.key)
        by_key[entry.key] = entry if seen is None else merge_entries(seen, entry)
    return list(by_key.values())
