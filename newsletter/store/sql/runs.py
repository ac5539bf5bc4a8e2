"""Digest runs: one row per (schedule, period), claimed once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.records import RunStatus
from newsletter.store.records import RunRecord, RunTally
from newsletter.store.schema import outbox, runs
from newsletter.store.sql.base import SqlBase

STALE_RUN = timedelta(minutes=30)
"""A run still composing after this long was abandoned by a process that died."""


def _tally(summary: dict[str, Any] | None) -> RunTally:
    summary = summary or {}
    return RunTally(
        composed=int(summary.get("composed") or 0),
        sent=int(summary.get("sent") or 0),
        deferred=int(summary.get("deferred") or 0),
        failed=int(summary.get("failed") or 0),
        duration=summary.get("duration"),
    )


class RunsSql(SqlBase):
    def claim_run(
        self,
        schedule: str,
        period: str,
        now: datetime,
        stale_after: timedelta = STALE_RUN,
    ) -> int | None:
        """Start the run (schedule, period) once: None when another process already has it.

        A run still ``composing`` after ``stale_after`` was abandoned (its process died
        between claiming and finishing); it is taken over so its digests are not lost. The
        takeover is safe: subscribers with a row in the run are skipped, and entries in
        their pending rows are never composed again.
        """
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    insert(runs).values(
                        schedule=schedule,
                        period=period,
                        started_at=now,
                        status=RunStatus.COMPOSING.value,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                return int(key[0])
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(
                select(runs.c.id, runs.c.started_at, runs.c.status).where(
                    runs.c.schedule == schedule, runs.c.period == period
                )
            ).first()
            if (
                row is None
                or row.status != RunStatus.COMPOSING
                or row.started_at > now - stale_after
            ):
                return None
            taken = conn.execute(
                update(runs)
                .where(runs.c.id == row.id, runs.c.started_at == row.started_at)
                .values(started_at=now)
            )
            return int(row.id) if taken.rowcount == 1 else None

    def run_subscribers(self, run_id: int) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.subscriber).where(outbox.c.run_id == run_id))
            return set(rows.scalars())

    def finish_run(self, run_id: int, now: datetime, status: RunStatus, tally: RunTally) -> None:
        summary = {k: v for k, v in asdict(tally).items() if v is not None}
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(finished_at=now, status=status.value, summary=summary)
            )

    def last_runs(self) -> Mapping[str, RunRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.id))
            return {
                row.schedule: RunRecord(
                    id=row.id,
                    schedule=row.schedule,
                    period=row.period,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    status=RunStatus(row.status),
                    tally=_tally(row.summary),
                )
                for row in rows
            }
