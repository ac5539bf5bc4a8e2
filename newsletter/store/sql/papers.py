"""Papers by publication time, for the public pages (the day's papers, search, Atom)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from newsletter.store.records import PaperRef, PaperStamp
from newsletter.store.schema import entries
from newsletter.store.sql.base import SqlBase
from newsletter.store.sql.engine import utc_aggregate


class PapersSql(SqlBase):
    def paper_refs(self, start: datetime, end: datetime) -> list[PaperRef]:
        query = select(
            entries.c.key, entries.c.revision, entries.c.popularity, entries.c.published
        ).where(entries.c.published >= start, entries.c.published < end)
        with self.engine.connect() as conn:
            return [PaperRef(*row) for row in conn.execute(query).all()]

    def papers_stamp(self, start: datetime, end: datetime | None = None) -> PaperStamp:
        query = select(func.count(), func.max(entries.c.updated_at)).where(
            entries.c.published >= start
        )
        if end is not None:
            query = query.where(entries.c.published < end)
        with self.engine.connect() as conn:
            count, changed = conn.execute(query).one()
        return PaperStamp(int(count), utc_aggregate(changed))

    def published_before(self, moment: datetime) -> datetime | None:
        query = select(func.max(entries.c.published)).where(entries.c.published < moment)
        with self.engine.connect() as conn:
            found: datetime | None = utc_aggregate(conn.execute(query).scalar_one())
        return found

    def published_from(self, moment: datetime) -> datetime | None:
        query = select(func.min(entries.c.published)).where(entries.c.published >= moment)
        with self.engine.connect() as conn:
            found: datetime | None = utc_aggregate(conn.execute(query).scalar_one())
        return found

    def newest_refs(self, limit: int) -> list[PaperRef]:
        query = (
            select(entries.c.key, entries.c.revision, entries.c.popularity, entries.c.published)
            .order_by(entries.c.published.desc(), entries.c.key)
            .limit(max(0, limit))
        )
        with self.engine.connect() as conn:
            return [PaperRef(*row) for row in conn.execute(query).all()]
