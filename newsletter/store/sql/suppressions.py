"""Suppressed addresses: written with insert-or-ignore, so concurrent writers never fail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from newsletter.store.records import Suppression
from newsletter.store.schema import suppressions
from newsletter.store.sql.base import SqlBase


class SuppressionsSql(SqlBase):
    def suppress(self, email: str, reason: str, at: datetime) -> None:
        """Idempotent: a repeat (or a concurrent twin) keeps the first reason and date."""
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = (
            dialect_insert(suppressions)
            .values(email=email.lower(), reason=reason, since=at)
            .on_conflict_do_nothing(index_elements=["email"])
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def unsuppress(self, email: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(suppressions).where(suppressions.c.email == email.lower()))

    def is_suppressed(self, email: str) -> bool:
        query = select(suppressions.c.email).where(suppressions.c.email == email.lower())
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def suppressions(self) -> Mapping[str, Suppression]:
        with self.engine.connect() as conn:
            return {
                row.email: Suppression(row.email, row.reason, row.since)
                for row in conn.execute(select(suppressions))
            }
