"""The relay's pause: one row, written by the run that paused, read by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from newsletter.store.records import RelayPause
from newsletter.store.schema import relay_state
from newsletter.store.sql.base import SqlBase

RELAY = "smtp"
"""The one relay a deployment sends through (the key leaves room for more)."""


class RelaySql(SqlBase):
    def relay_pause(self) -> RelayPause | None:
        query = select(relay_state).where(relay_state.c.name == RELAY)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return RelayPause(row.reason, row.since, row.paused_at, row.until, row.pauses)

    def save_relay_pause(self, pause: RelayPause) -> None:
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        values = {
            "reason": pause.reason,
            "since": pause.since,
            "paused_at": pause.paused_at,
            "until": pause.until,
            "pauses": pause.pauses,
        }
        statement = dialect_insert(relay_state).values(name=RELAY, **values)
        statement = statement.on_conflict_do_update(index_elements=["name"], set_=values)
        with self.engine.begin() as conn:
            conn.execute(statement)

    def clear_relay_pause(self, paused_at: datetime | None = None) -> bool:
        statement = delete(relay_state).where(relay_state.c.name == RELAY)
        if paused_at is not None:
            statement = statement.where(relay_state.c.paused_at == paused_at)
        with self.engine.begin() as conn:
            return int(conn.execute(statement).rowcount) > 0
