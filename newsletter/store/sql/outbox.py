"""The outbox: ``pending`` rows written at composition, claimed with a lease, then marked.

Entries a message carries are recorded beside it (``outbox_entries``), with the version
carried, so composition can tell what a subscriber already has.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, text, update

from newsletter.records import (
    ACTIVE_OUTBOX_STATUSES,
    Message,
    OutboxFailure,
    OutboxStatus,
    SuppressionReason,
)
from newsletter.store.records import (
    NOTICE_SCHEDULE,
    ArchiveCopy,
    DeliveryRates,
    DeliverySummary,
    DigestOutcome,
    OutboxRow,
    Taken,
)
from newsletter.store.schema import outbox, outbox_entries, runs
from newsletter.store.sql.archive import COMPRESSION, PackedCopy, insert_archive, pack_matches
from newsletter.store.sql.base import SqlBase
from newsletter.store.sql.engine import subscriber_lock_key, utc_aggregate

CHUNK = 500
"""Addresses per ``IN (…)`` list: a query per subscriber is a round trip each on PostgreSQL."""
INTERNAL_FAILURE = OutboxFailure.INTERNAL.value
"""``outbox.failure`` of a digest we could not make: never the address's fault."""
_ACTIVE = [status.value for status in ACTIVE_OUTBOX_STATUSES]
_SETTLED = [OutboxStatus.SENT.value, OutboxStatus.FAILED.value]
_RELAY_FAILURES = [OutboxFailure.REFUSED.value, OutboxFailure.EXPIRED.value]
_BOUNCES = [SuppressionReason.BOUNCE_HARD.value, SuppressionReason.BOUNCE_SOFT.value]


def _enum(kind: Any, value: str | None) -> Any:
    """A stored enum value, or None when empty or unknown to this version."""
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def _row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        run_id=row.run_id,
        subscriber=row.subscriber,
        status=OutboxStatus(row.status),
        message_id=row.message_id,
        subject=row.subject,
        data=zlib.decompress(row.data),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt=row.next_attempt,
        last_reply=row.last_reply,
        token=row.token,
        failure=_enum(OutboxFailure, row.failure),
        report=_enum(SuppressionReason, row.report),
    )


def _chunks(emails: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted({e.lower() for e in emails})
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _carried_rows(conn: Connection, emails: list[str]) -> Iterable[Any]:
    query = (
        select(
            outbox_entries.c.subscriber,
            outbox_entries.c.entry_key,
            outbox_entries.c.version,
            outbox_entries.c.is_update,
        )
        .join(outbox, outbox.c.id == outbox_entries.c.outbox_id)
        .where(outbox_entries.c.subscriber.in_(emails))
        .where(outbox.c.status.in_(_ACTIVE))
    )
    return conn.execute(query)


def _digest_rows() -> Any:
    """Rows that are digests, not confirmation mails (which are no one's previous digest)."""
    notices = select(runs.c.id).where(runs.c.schedule == NOTICE_SCHEDULE)
    return outbox.c.run_id.not_in(notices.scalar_subquery())


class OutboxSql(SqlBase):
    # -- what subscribers already have ---------------------------------------------------

    def taken_entries_of(self, subscribers: Sequence[str]) -> Mapping[str, Taken]:
        keys: dict[str, set[str]] = {e.lower(): set() for e in subscribers}
        newest: dict[str, dict[str, int]] = {e: {} for e in keys}
        with self.engine.connect() as conn:
            for chunk in _chunks(keys):
                for email, key, version, _update in _carried_rows(conn, chunk):
                    keys[email].add(key)
                    if version is not None and version > newest[email].get(key, -1):
                        newest[email][key] = version
        return {e: Taken(frozenset(keys[e]), newest[e]) for e in keys}

    def last_digests_of(self, subscribers: Sequence[str]) -> Mapping[str, datetime | None]:
        last: dict[str, datetime | None] = {e.lower(): None for e in subscribers}
        with self.engine.connect() as conn:
            for chunk in _chunks(last):
                query = (
                    select(outbox.c.subscriber, func.max(outbox.c.created_at))
                    .where(outbox.c.subscriber.in_(chunk))
                    .where(outbox.c.status.in_(_ACTIVE))
                    .where(_digest_rows())
                    .group_by(outbox.c.subscriber)
                )
                for email, value in conn.execute(query):
                    last[email] = utc_aggregate(value)
        return last

    # -- composition ---------------------------------------------------------------------

    def enqueue(
        self,
        run_id: int,
        messages: Sequence[Message],
        now: datetime,
        *,
        archive: Sequence[ArchiveCopy] = (),
    ) -> int:
        if not messages:
            return 0
        # Compressed before the transaction: the write lock (SQLite's is the database's)
        # is then held only for the inserts, not for ~1 ms of zlib per message.
        packed = {m.message_id: zlib.compress(m.data, COMPRESSION) for m in messages}
        copies = [PackedCopy(c.token, c.message_id, pack_matches(c.matches)) for c in archive]
        with self.engine.begin() as conn:
            self._lock_subscribers(conn, [m.recipient for m in messages])
            return self._enqueue(conn, run_id, messages, packed, now, archive=copies)

    def _lock_subscribers(self, conn: Connection, emails: Iterable[str]) -> None:
        """Serialise composition per subscriber until this transaction ends.

        PostgreSQL: one transaction-scoped advisory lock per subscriber, taken in key
        order so two processes never deadlock. SQLite: the database write lock, taken
        before anything is read. Either way the check in ``_enqueue`` then sees every row
        another process committed.
        """
        if conn.dialect.name == "postgresql":
            keys = sorted({subscriber_lock_key(e) for e in emails})
            conn.execute(
                text(
                    "SELECT count(pg_advisory_xact_lock(k)) FROM"
                    " unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n)"
                ),
                {"keys": keys},
            )
        else:
            self.write_lock(conn)

    def _enqueue(
        self,
        conn: Connection,
        run_id: int,
        messages: Sequence[Message],
        packed: Mapping[str, bytes],
        now: datetime,
        *,
        archive: Sequence[PackedCopy] = (),
    ) -> int:
        """Insert the batch with two multi-row statements (``packed``: each message's
        compressed bytes by Message-ID).

        A message is skipped when one of its papers is already in an active row for the
        same subscriber (or, for an update, that version is): that only happens when two
        processes composed the same subscriber at once, and the one that committed first
        wins.
        """
        taken: set[tuple[str, str]] = set()
        versions: set[tuple[str, str, int | None]] = set()
        for chunk in _chunks(m.recipient for m in messages):
            for email, key, version, _update in _carried_rows(conn, chunk):
                taken.add((email, key))
                versions.add((email, key, version))

        def clashes(message: Message) -> bool:
            who = message.recipient.lower()
            return any(
                (who, c.key, c.version) in versions if c.update else (who, c.key) in taken
                for c in message.carried
            )

        fresh = [m for m in messages if not clashes(m)]
        if not fresh:
            return 0
        result = conn.execute(
            insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True),
            [
                {
                    "run_id": run_id,
                    "subscriber": message.recipient.lower(),
                    "status": OutboxStatus.PENDING.value,
                    "message_id": message.message_id,
                    "subject": message.subject,
                    "data": packed[message.message_id],
                    "created_at": now,
                    "attempts": 0,
                    "item_count": message.item_count,
                    "size": len(message.data),
                    "token": message.token,
                }
                for message in fresh
            ],
        )
        ids = list(result.scalars())
        links = [
            {
                "outbox_id": outbox_id,
                "entry_key": carried.key,
                "subscriber": message.recipient.lower(),
                "version": carried.version,
                "is_update": carried.update,
            }
            for outbox_id, message in zip(ids, fresh, strict=True)
            for carried in {c.key: c for c in message.carried}.values()
        ]
        if links:
            conn.execute(insert(outbox_entries), links)
        if archive:
            written = {m.message_id: outbox_id for outbox_id, m in zip(ids, fresh, strict=True)}
            insert_archive(conn, written, archive, now)
        return len(fresh)

    def discard_pending(self, run_id: int) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(outbox).where(
                    outbox.c.run_id == run_id, outbox.c.status == OutboxStatus.PENDING.value
                )
            )
            return int(done.rowcount)

    def record_failure(self, run_id: int, subscriber: str, reason: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(outbox).values(
                    run_id=run_id,
                    subscriber=subscriber.lower(),
                    status=OutboxStatus.FAILED.value,
                    message_id="",
                    subject="",
                    data=zlib.compress(b""),
                    created_at=now,
                    attempts=0,
                    item_count=0,
                    size=0,
                    last_reply=reason,
                    failure=INTERNAL_FAILURE,
                )
            )

    # -- delivery ------------------------------------------------------------------------

    def release_dead_leases(self, now: datetime, host: str, alive: Callable[[int], bool]) -> int:
        """Expire at once the leases of senders on this host whose process is gone.

        Without this, rows a killed `send` was holding would wait out the whole lease
        before a re-run could finish them. Leases of other hosts still run their course.
        """
        query = (
            select(outbox.c.lease_owner)
            .where(
                outbox.c.status == OutboxStatus.SENDING.value,
                outbox.c.lease_owner.like(f"{host}:%"),
            )
            .distinct()
        )
        released = 0
        with self.engine.begin() as conn:
            for owner in conn.execute(query).scalars().all():
                pid = owner.rsplit(":", 1)[1]
                if pid.isdigit() and not alive(int(pid)):
                    done = conn.execute(
                        update(outbox)
                        .where(
                            outbox.c.status == OutboxStatus.SENDING.value,
                            outbox.c.lease_owner == owner,
                        )
                        .values(lease_expires=now)
                    )
                    released += int(done.rowcount)
        return released

    def release(self, outbox_ids: Sequence[int]) -> int:
        if not outbox_ids:
            return 0
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(list(outbox_ids)),
                    outbox.c.status == OutboxStatus.SENDING.value,
                )
                .values(
                    status=OutboxStatus.PENDING.value,
                    lease_expires=None,
                    lease_owner=None,
                    attempts=func.max(outbox.c.attempts - 1, 0)
                    if self.dialect == "sqlite"
                    else func.greatest(outbox.c.attempts - 1, 0),
                )
            )
            return int(done.rowcount)

    def restore(self, outbox_ids: Sequence[int]) -> int:
        if not outbox_ids:
            return 0
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(list(outbox_ids)),
                    outbox.c.status.in_([OutboxStatus.FAILED.value, OutboxStatus.DEFERRED.value]),
                    or_(outbox.c.failure.is_(None), outbox.c.failure != INTERNAL_FAILURE),
                )
                .values(
                    status=OutboxStatus.PENDING.value,
                    failure=None,
                    next_attempt=None,
                    lease_expires=None,
                    lease_owner=None,
                    attempts=func.max(outbox.c.attempts - 1, 0)
                    if self.dialect == "sqlite"
                    else func.greatest(outbox.c.attempts - 1, 0),
                )
            )
            return int(done.rowcount)

    def claim(
        self,
        now: datetime,
        lease: timedelta,
        limit: int,
        *,
        owner: str | None = None,
        schedule: str | None = None,
        run_id: int | None = None,
    ) -> list[OutboxRow]:
        """Take up to ``limit`` due rows, marking them ``sending`` until the lease expires.

        A row whose lease expired (its sender died) is due again. With ``schedule``, only
        rows of that schedule's runs (``serve`` sends confirmations and nothing else); with
        ``run_id``, only that run's rows.
        """
        due = or_(
            outbox.c.status == OutboxStatus.PENDING.value,
            and_(outbox.c.status == OutboxStatus.SENDING.value, outbox.c.lease_expires <= now),
            and_(
                outbox.c.status == OutboxStatus.DEFERRED.value,
                or_(outbox.c.next_attempt <= now, outbox.c.next_attempt.is_(None)),
            ),
        )
        # One statement: atomic on SQLite (it holds the write lock), and on PostgreSQL the
        # SKIP LOCKED sub-select lets N workers take disjoint rows without waiting.
        if run_id is not None:
            due = and_(due, outbox.c.run_id == run_id)
        if schedule is not None:
            due = and_(
                due, outbox.c.run_id.in_(select(runs.c.id).where(runs.c.schedule == schedule))
            )
        chosen = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
        if self.dialect == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        statement = (
            update(outbox)
            .where(outbox.c.id.in_(chosen.scalar_subquery()))
            .values(
                status=OutboxStatus.SENDING.value,
                lease_expires=now + lease,
                lease_owner=owner,
                attempts=outbox.c.attempts + 1,
            )
            .returning(*outbox.c)
        )
        with self.engine.begin() as conn:
            rows = sorted(conn.execute(statement).all(), key=lambda row: row.id)
        return [_row(row) for row in rows]

    def mark(
        self,
        outbox_id: int,
        status: OutboxStatus,
        *,
        now: datetime,
        reply: str,
        next_attempt: datetime | None = None,
        failure: OutboxFailure | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status.value,
            "last_reply": reply,
            "lease_expires": None,
            "lease_owner": None,
            "failure": failure.value if failure is not None else None,
        }
        if status is OutboxStatus.SENT:
            values["sent_at"] = now
        if status is OutboxStatus.DEFERRED:
            values["next_attempt"] = next_attempt
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))

    def make_deferred_due(self, now: datetime) -> int:
        """For an operator who fixed the relay: retry every deferred row now."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(outbox.c.status == OutboxStatus.DEFERRED.value)
                .values(next_attempt=now)
            )
            return int(done.rowcount)

    # -- reports -------------------------------------------------------------------------

    def outbox_counts(self) -> Mapping[OutboxStatus, int]:
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        with self.engine.connect() as conn:
            return {OutboxStatus(status): int(count) for status, count in conn.execute(query)}

    def outbox_rows(self, subscriber: str | None = None) -> list[OutboxRow]:
        query = select(outbox).order_by(outbox.c.id)
        if subscriber:
            query = query.where(outbox.c.subscriber == subscriber.lower())
        with self.engine.connect() as conn:
            return [_row(row) for row in conn.execute(query)]

    def next_retry(self) -> datetime | None:
        query = select(func.min(outbox.c.next_attempt)).where(
            outbox.c.status == OutboxStatus.DEFERRED.value
        )
        with self.engine.connect() as conn:
            value: datetime | None = utc_aggregate(conn.execute(query).scalar_one_or_none())
        return value

    def delivery_summary(self) -> Mapping[str, DeliverySummary]:
        query = (
            select(
                outbox.c.subscriber,
                func.max(
                    case((outbox.c.status == OutboxStatus.SENT.value, outbox.c.sent_at))
                ).label("last_sent"),
                func.sum(case((outbox.c.status == OutboxStatus.FAILED.value, 1), else_=0)).label(
                    "failed"
                ),
                func.sum(case((outbox.c.status == OutboxStatus.DEFERRED.value, 1), else_=0)).label(
                    "deferred"
                ),
            )
            .where(_digest_rows())
            .group_by(outbox.c.subscriber)
        )
        with self.engine.connect() as conn:
            return {
                row.subscriber: DeliverySummary(
                    last_sent=utc_aggregate(row.last_sent),
                    failed=int(row.failed or 0),
                    deferred=int(row.deferred or 0),
                )
                for row in conn.execute(query)
            }

    # -- bounces and complaints ----------------------------------------------------------

    def find_message(
        self, *, token: str | None = None, message_id: str | None = None
    ) -> OutboxRow | None:
        if token:
            query = select(outbox).where(outbox.c.token == token.lower())
        elif message_id:
            query = select(outbox).where(outbox.c.message_id == message_id)
        else:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(outbox.c.id.desc()).limit(1)).first()
        return _row(row) if row is not None else None

    def record_report(self, outbox_id: int, report: SuppressionReason, at: datetime) -> bool:
        weaker = [r.value for r in SuppressionReason if r.rank < report.rank]
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == outbox_id,
                    or_(outbox.c.report.is_(None), outbox.c.report.in_(weaker)),
                )
                .values(report=report.value, reported_at=at)
            )
            return int(done.rowcount) > 0

    def recent_outcomes(self, subscriber: str, count: int) -> list[DigestOutcome]:
        query = (
            select(outbox.c.status, outbox.c.failure, outbox.c.report)
            .where(
                outbox.c.subscriber == subscriber.lower(),
                outbox.c.status.in_(_SETTLED),
                or_(outbox.c.failure.is_(None), outbox.c.failure != INTERNAL_FAILURE),
            )
            .order_by(outbox.c.id.desc())
            .limit(count)
        )
        with self.engine.connect() as conn:
            return [
                DigestOutcome(
                    OutboxStatus(row.status),
                    _enum(OutboxFailure, row.failure),
                    _enum(SuppressionReason, row.report),
                )
                for row in conn.execute(query)
            ]

    def delivery_rates(self, since: datetime) -> DeliveryRates:
        sent = outbox.c.status == OutboxStatus.SENT.value
        refused = outbox.c.failure.in_(_RELAY_FAILURES)
        query = select(
            func.sum(case((or_(sent, refused), 1), else_=0)).label("attempted"),
            func.sum(case((sent, 1), else_=0)).label("sent"),
            func.sum(case((or_(refused, outbox.c.report.in_(_BOUNCES)), 1), else_=0)).label(
                "bounced"
            ),
            func.sum(
                case((outbox.c.report == SuppressionReason.COMPLAINT.value, 1), else_=0)
            ).label("complaints"),
        ).where(outbox.c.created_at >= since)
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return DeliveryRates(
            attempted=int(row.attempted or 0),
            sent=int(row.sent or 0),
            bounced=int(row.bounced or 0),
            complaints=int(row.complaints or 0),
        )
