"""Suppressed addresses: written with insert-or-update-if-stronger, so concurrent writers
never fail and the strongest reason wins."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from newsletter.records import SuppressionReason
from newsletter.store.records import Suppression
from newsletter.store.schema import suppressions
from newsletter.store.sql.base import SqlBase


def _reason(value: str) -> SuppressionReason:
    """A stored reason; anything this version does not know was a person's unsubscribe (the
    only reason written before bounces were read)."""
    try:
        return SuppressionReason(value)
    except ValueError:
        return SuppressionReason.UNSUBSCRIBE


def _record(row: Any) -> Suppression:
    return Suppression(row.email, _reason(row.reason), row.since)


class SuppressionsSql(SqlBase):
    def suppress(self, email: str, reason: SuppressionReason, at: datetime) -> bool:
        """Idempotent: a repeat (or a concurrent twin) keeps the first reason and date; a
        stronger reason replaces a weaker one."""
        reason = SuppressionReason(reason)
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        weaker = [r.value for r in SuppressionReason if r.rank < reason.rank]
        insert = dialect_insert(suppressions).values(
            email=email.lower(), reason=reason.value, since=at
        )
        statement = insert.on_conflict_do_update(
            index_elements=["email"],
            set_={"reason": reason.value, "since": at},
            where=suppressions.c.reason.in_(weaker),
        ).returning(suppressions.c.email)
        # RETURNING, not rowcount: a row comes back only when it was inserted or updated
        # (rowcount of an upsert is not reported the same way by every driver).
        with self.engine.begin() as conn:
            return conn.execute(statement).first() is not None

    def unsuppress(
        self, email: str, reasons: Collection[SuppressionReason] | None = None
    ) -> Suppression | None:
        with self.engine.begin() as conn:
            self.write_lock(conn)
            row = conn.execute(
                select(suppressions).where(suppressions.c.email == email.lower())
            ).first()
            if row is None:
                return None
            found = _record(row)
            if reasons is not None and found.reason not in reasons:
                return None
            conn.execute(
                delete(suppressions).where(
                    suppressions.c.email == found.email, suppressions.c.reason == row.reason
                )
            )
            return found

    def suppression(self, email: str) -> Suppression | None:
        query = select(suppressions).where(suppressions.c.email == email.lower())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def is_suppressed(self, email: str) -> bool:
        return self.suppression(email) is not None

    def suppressions(self) -> Mapping[str, Suppression]:
        with self.engine.connect() as conn:
            return {row.email: _record(row) for row in conn.execute(select(suppressions))}
