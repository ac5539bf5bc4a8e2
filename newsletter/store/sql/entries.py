"""Entries: one row per paper, written with a revision check instead of a held lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from newsletter.records import Entry
from newsletter.store.records import EntryWrite, StoredEntry
from newsletter.store.schema import entries
from newsletter.store.sql.base import SqlBase

CHUNK = 500
"""Keys per ``IN (…)`` list: well under every backend's parameter limit."""


def _values(entry: Entry, now: datetime) -> dict[str, Any]:
    return {
        "title": entry.title,
        "link": entry.link,
        "abstract": entry.abstract,
        "authors": list(entry.authors),
        "categories": list(entry.categories),
        "feeds": list(entry.feeds),
        "pdf_link": entry.pdf_link,
        "popularity": entry.popularity,
        "arxiv_id": entry.arxiv_id,
        "version": entry.version,
        "announce_type": entry.announce_type,
        "published": entry.published,
        "first_seen": entry.first_seen or now,
        "updated_at": now,
    }


def entry_from_row(row: Any) -> Entry:
    return Entry(
        key=row.key,
        title=row.title,
        link=row.link,
        published=row.published,
        abstract=row.abstract,
        authors=tuple(row.authors),
        categories=tuple(row.categories),
        feeds=tuple(row.feeds),
        pdf_link=row.pdf_link,
        popularity=row.popularity,
        arxiv_id=row.arxiv_id,
        version=row.version,
        announce_type=row.announce_type,
        first_seen=row.first_seen,
    )


class EntriesSql(SqlBase):
    def read_entries(self, keys: Sequence[str]) -> Mapping[str, StoredEntry]:
        wanted = sorted(set(keys))
        found: dict[str, StoredEntry] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), CHUNK):
                query = select(entries).where(entries.c.key.in_(wanted[start : start + CHUNK]))
                for row in conn.execute(query):
                    found[row.key] = StoredEntry(entry_from_row(row), int(row.revision))
        return found

    def write_entries(self, writes: Sequence[EntryWrite], *, now: datetime) -> list[str]:
        """Inserts and revision-checked updates in one transaction; returns conflicting keys.

        Each write stands alone: the ones that applied are committed, the ones whose row
        moved (an update) or appeared (an insert) since the caller read it are returned
        for the caller to merge again."""
        if not writes:
            return []
        conflicts: list[str] = []
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = (
            dialect_insert(entries)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(entries.c.key)
        )
        # In key order, updates and inserts alike: two writers of overlapping papers then
        # lock rows in the same order and cannot deadlock (PostgreSQL detected one when
        # each updated its known papers first and then inserted the rest).
        with self.engine.begin() as conn:
            for write in sorted(writes, key=lambda w: w.entry.key):
                entry = write.entry
                if write.expected is not None:
                    if not self._update(conn, write, now):
                        conflicts.append(entry.key)
                    continue
                # One row per statement: RETURNING tells whether it was new.
                row = {"key": entry.key, **_values(entry, now), "revision": 0}
                if not conn.execute(statement.values(**row)).scalars().first():
                    conflicts.append(entry.key)
        return conflicts

    @staticmethod
    def _update(conn: Connection, write: EntryWrite, now: datetime) -> bool:
        assert write.expected is not None
        done = conn.execute(
            update(entries)
            .where(entries.c.key == write.entry.key, entries.c.revision == write.expected)
            .values(**_values(write.entry, now), revision=write.expected + 1)
        )
        return done.rowcount == 1

    def entries_since(self, since: datetime) -> list[Entry]:
        query = select(entries).where(
            or_(
                entries.c.published >= since,
                entries.c.first_seen >= since,
                entries.c.updated_at >= since,
            )
        )
        with self.engine.connect() as conn:
            return [entry_from_row(row) for row in conn.execute(query)]

    def all_entries(self) -> list[Entry]:
        with self.engine.connect() as conn:
            return [entry_from_row(row) for row in conn.execute(select(entries))]

    def entry_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())
