"""All database I/O, behind one small class that speaks in records.

The outbox is the heart of delivery: a digest is first written as a ``pending``
row, then claimed (``sending`` with a lease), then marked ``sent``, ``deferred``
or ``failed``. Entries count as delivered only through a ``sent`` row.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from newsletter.config.errors import ConfigError, Problem
from newsletter.records import Entry, Message
from newsletter.store.migrate import ensure_current
from newsletter.store.schema import (
    entries,
    feeds,
    outbox,
    outbox_entries,
    runs,
    suppressions,
    topic_vectors,
)

ACTIVE_STATUSES = ("pending", "sending", "deferred", "sent")
STALE_RUN = timedelta(minutes=30)
"""A run still composing after this long was abandoned by a process that died."""
"""An entry in a row with one of these is taken: composition never puts it in another digest."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    run_id: int
    subscriber: str
    status: str
    message_id: str
    subject: str
    data: bytes
    attempts: int
    created_at: datetime
    next_attempt: datetime | None
    last_reply: str | None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and not url.startswith("sqlite:///:memory:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def database_problem(url: str, exc: Exception) -> ConfigError:
    """A database that cannot be opened is a setup problem: say which and how to fix it."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = repr(url)
    if isinstance(exc, ImportError):
        reason = f"its driver is not installed ({exc.name or exc})"
        hint = "PostgreSQL needs the postgres extra: pip install 'newsletter[postgres]'"
    elif isinstance(exc, ArgumentError):
        reason = "this is not a database URL"
        hint = "e.g. sqlite:///state/newsletter.db or postgresql+psycopg://user@host/dbname"
    else:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        hint = "is the server running, and do the host, port, user and database name exist?"
    return ConfigError([Problem("database", None, f"cannot open {shown}: {reason}", hint)])


def subscriber_lock_key(email: str) -> int:
    """A stable signed 64-bit key per address for PostgreSQL advisory locks."""
    digest = hashlib.blake2b(email.lower().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _entry_row(entry: Entry, now: datetime) -> dict[str, Any]:
    return {
        "key": entry.key,
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


def _entry(row: Any) -> Entry:
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


def _outbox_row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        run_id=row.run_id,
        subscriber=row.subscriber,
        status=row.status,
        message_id=row.message_id,
        subject=row.subject,
        data=zlib.decompress(row.data),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt=row.next_attempt,
        last_reply=row.last_reply,
    )


def _primary_key(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        """Open the database, creating or upgrading its schema through the migrations."""
        try:
            engine = make_engine(url)
            ensure_current(engine)
        except (ImportError, ArgumentError, OperationalError) as exc:
            raise database_problem(url, exc) from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- feeds ---------------------------------------------------------------------------

    def feed_rows(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {row.name: dict(row._mapping) for row in conn.execute(select(feeds))}

    def save_feed_row(self, name: str, values: dict[str, Any]) -> None:
        columns = {c.name for c in feeds.columns}
        values = {k: v for k, v in values.items() if k in columns and k != "name"}
        with self.engine.begin() as conn:
            done = conn.execute(update(feeds).where(feeds.c.name == name).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(feeds).values(name=name, **values))

    # -- entries -------------------------------------------------------------------------

    def upsert_entries(
        self,
        new: Iterable[Entry],
        *,
        now: datetime,
        merge: Callable[[Entry, Entry], Entry],
        insert_missing: bool = True,
    ) -> tuple[int, int]:
        """Store entries once under their key, merging later sightings. Returns (added, merged).

        With ``insert_missing=False`` only entries already stored are updated (e.g. a new
        version of a paper we have; a revision of one we never had is not news)."""
        batch: dict[str, Entry] = {}
        for entry in new:
            batch[entry.key] = merge(batch[entry.key], entry) if entry.key in batch else entry
        if not batch:
            return 0, 0
        # Two processes fetching the same paper at once can both find it missing; the
        # loser's insert fails on the key, and a second pass merges into the winner's row.
        for attempt in range(3):
            try:
                return self._upsert(batch, now, merge, insert_missing)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _upsert(
        self,
        batch: dict[str, Entry],
        now: datetime,
        merge: Callable[[Entry, Entry], Entry],
        insert_missing: bool,
    ) -> tuple[int, int]:
        added = merged = 0
        with self.engine.begin() as conn:
            # Read-merge-write must not interleave with another writer's, or one merge is
            # lost: SQLite takes its write lock up front, PostgreSQL locks the rows read.
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            existing: dict[str, Entry] = {}
            keys = sorted(batch)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                query = select(entries).where(entries.c.key.in_(chunk)).order_by(entries.c.key)
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()
                for row in conn.execute(query):
                    existing[row.key] = _entry(row)
            inserts = []
            for key, entry in batch.items():
                old = existing.get(key)
                if old is None:
                    if not insert_missing:
                        continue
                    inserts.append(_entry_row(entry, now))
                    added += 1
                    continue
                combined = merge(old, entry)
                if combined != old:
                    values = _entry_row(combined, now)
                    values["first_seen"] = old.first_seen or now
                    del values["key"]
                    conn.execute(update(entries).where(entries.c.key == key).values(**values))
                    merged += 1
            if inserts:
                conn.execute(insert(entries), inserts)
        return added, merged

    def entries_since(self, since: datetime) -> list[Entry]:
        """Entries published, first seen or changed (e.g. a new version) at or after ``since``."""
        query = select(entries).where(
            or_(
                entries.c.published >= since,
                entries.c.first_seen >= since,
                entries.c.updated_at >= since,
            )
        )
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def all_entries(self) -> list[Entry]:
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(select(entries))]

    def entry_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())

    # -- what each subscriber already has -----------------------------------------------

    def taken_entries(self, subscriber: str) -> set[str]:
        """Keys of entries in this subscriber's pending, sending, deferred or sent digests."""
        return self.taken_entries_of([subscriber])[subscriber.lower()]

    def taken_entries_of(self, subscribers: Sequence[str]) -> dict[str, set[str]]:
        """``taken_entries`` for many subscribers in a few queries (one per 500 addresses):
        one query per subscriber is a network round trip each on PostgreSQL."""
        emails = sorted({s.lower() for s in subscribers})
        taken: dict[str, set[str]] = {email: set() for email in emails}
        with self.engine.connect() as conn:
            for start in range(0, len(emails), 500):
                query = (
                    select(outbox_entries.c.subscriber, outbox_entries.c.entry_key)
                    .join(outbox, outbox.c.id == outbox_entries.c.outbox_id)
                    .where(outbox_entries.c.subscriber.in_(emails[start : start + 500]))
                    .where(outbox.c.status.in_(ACTIVE_STATUSES))
                )
                for email, key in conn.execute(query):
                    taken[email].add(key)
        return taken

    def delivered_entries(self, subscriber: str) -> set[str]:
        query = (
            select(outbox_entries.c.entry_key)
            .join(outbox, outbox.c.id == outbox_entries.c.outbox_id)
            .where(outbox_entries.c.subscriber == subscriber.lower())
            .where(outbox.c.status == "sent")
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def last_digest_at(self, subscriber: str) -> datetime | None:
        """When this subscriber's latest digest that was not abandoned was composed."""
        return self.last_digests_of([subscriber])[subscriber.lower()]

    def last_digests_of(self, subscribers: Sequence[str]) -> dict[str, datetime | None]:
        """``last_digest_at`` for many subscribers in a few grouped queries."""
        emails = sorted({s.lower() for s in subscribers})
        last: dict[str, datetime | None] = dict.fromkeys(emails)
        with self.engine.connect() as conn:
            for start in range(0, len(emails), 500):
                query = (
                    select(outbox.c.subscriber, func.max(outbox.c.created_at))
                    .where(outbox.c.subscriber.in_(emails[start : start + 500]))
                    .where(outbox.c.status.in_(ACTIVE_STATUSES))
                    .group_by(outbox.c.subscriber)
                )
                for email, value in conn.execute(query):
                    if isinstance(value, str):  # func.max bypasses the column type on SQLite
                        value = datetime.fromisoformat(value)
                    if value is not None and value.tzinfo is None:
                        value = value.replace(tzinfo=UTC)
                    last[email] = value
        return last

    # -- runs ----------------------------------------------------------------------------

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
                        schedule=schedule, period=period, started_at=now, status="composing"
                    )
                )
                return _primary_key(result)
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(
                select(runs.c.id, runs.c.started_at, runs.c.status).where(
                    runs.c.schedule == schedule, runs.c.period == period
                )
            ).first()
            if row is None or row.status != "composing" or row.started_at > now - stale_after:
                return None
            taken = conn.execute(
                update(runs)
                .where(runs.c.id == row.id, runs.c.started_at == row.started_at)
                .values(started_at=now)
            )
            return int(row.id) if taken.rowcount == 1 else None

    def run_subscribers(self, run_id: int) -> set[str]:
        """Addresses that already have a digest in this run (for a takeover)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.subscriber).where(outbox.c.run_id == run_id))
            return set(rows.scalars())

    def finish_run(self, run_id: int, now: datetime, status: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(finished_at=now, status=status, summary=summary)
            )

    def last_runs(self) -> dict[str, dict[str, Any]]:
        """The latest run of each schedule."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.id))
            return {row.schedule: dict(row._mapping) for row in rows}

    # -- outbox --------------------------------------------------------------------------

    def enqueue(self, run_id: int, messages: Sequence[Message], now: datetime) -> int:
        """Write a batch of composed digests as pending rows, in one transaction.

        Returns how many were written: a digest carrying an entry that another process
        put in an active row for the same subscriber meanwhile is dropped (see ``_enqueue``).
        """
        if not messages:
            return 0
        with self.engine.begin() as conn:
            self._lock_subscribers(conn, [m.recipient for m in messages])
            return self._enqueue(conn, run_id, messages, now)

    def _lock_subscribers(self, conn: Connection, emails: Iterable[str]) -> None:
        """Serialise composition per subscriber until this transaction ends.

        PostgreSQL: one transaction-scoped advisory lock per subscriber, taken in key
        order so two processes never deadlock. SQLite: the database write lock, taken
        before anything is read (``BEGIN IMMEDIATE``). Either way the check in
        ``_enqueue`` then sees every row another process committed.
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
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _enqueue(
        self, conn: Connection, run_id: int, messages: Sequence[Message], now: datetime
    ) -> int:
        """Insert the batch with two multi-row statements.

        A message is skipped when one of its entries is already in an active row for the
        same subscriber: that only happens when two processes composed the same
        subscriber at once, and the one that committed first wins.
        """
        subscribers = sorted({m.recipient.lower() for m in messages})
        taken: set[tuple[str, str]] = set()
        for start in range(0, len(subscribers), 500):
            chunk = subscribers[start : start + 500]
            query = (
                select(outbox_entries.c.subscriber, outbox_entries.c.entry_key)
                .join(outbox, outbox.c.id == outbox_entries.c.outbox_id)
                .where(outbox_entries.c.subscriber.in_(chunk))
                .where(outbox.c.status.in_(ACTIVE_STATUSES))
            )
            taken.update((row.subscriber, row.entry_key) for row in conn.execute(query))
        fresh = [
            m
            for m in messages
            if not any((m.recipient.lower(), key) in taken for key in m.entry_keys)
        ]
        if not fresh:
            return 0
        result = conn.execute(
            insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True),
            [
                {
                    "run_id": run_id,
                    "subscriber": message.recipient.lower(),
                    "status": "pending",
                    "message_id": message.message_id,
                    "subject": message.subject,
                    "data": zlib.compress(message.data, 6),
                    "created_at": now,
                    "attempts": 0,
                    "item_count": sum("#v" not in key for key in message.entry_keys),
                    "size": len(message.data),
                }
                for message in fresh
            ],
        )
        ids = list(result.scalars())
        links = [
            {"outbox_id": outbox_id, "entry_key": key, "subscriber": message.recipient.lower()}
            for outbox_id, message in zip(ids, fresh, strict=True)
            for key in dict.fromkeys(message.entry_keys)
        ]
        if links:
            conn.execute(insert(outbox_entries), links)
        return len(fresh)

    def release_dead_leases(self, now: datetime, host: str, alive: Callable[[int], bool]) -> int:
        """Expire at once the leases of senders on this host whose process is gone.

        Without this, rows a killed `send` was holding would wait out the whole lease
        before a re-run could finish them. Leases of other hosts still run their course.
        """
        query = (
            select(outbox.c.lease_owner)
            .where(outbox.c.status == "sending", outbox.c.lease_owner.like(f"{host}:%"))
            .distinct()
        )
        released = 0
        with self.engine.begin() as conn:
            for owner in conn.execute(query).scalars().all():
                pid = owner.rsplit(":", 1)[1]
                if pid.isdigit() and not alive(int(pid)):
                    done = conn.execute(
                        update(outbox)
                        .where(outbox.c.status == "sending", outbox.c.lease_owner == owner)
                        .values(lease_expires=now)
                    )
                    released += int(done.rowcount)
        return released

    def claim(
        self,
        now: datetime,
        lease: timedelta,
        limit: int,
        *,
        ignore_backoff: bool = False,
        owner: str | None = None,
    ) -> list[OutboxRow]:
        """Take up to ``limit`` rows that are due, marking them ``sending`` until the lease expires.

        A row whose lease expired (its sender died) is due again.
        """
        due = or_(
            outbox.c.status == "pending",
            and_(outbox.c.status == "sending", outbox.c.lease_expires <= now),
            and_(
                outbox.c.status == "deferred",
                or_(outbox.c.next_attempt <= now, outbox.c.next_attempt.is_(None))
                if not ignore_backoff
                else outbox.c.status == "deferred",
            ),
        )
        # One statement: atomic on SQLite (it holds the write lock), and on PostgreSQL the
        # SKIP LOCKED sub-select lets N workers take disjoint rows without waiting.
        chosen = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
        if self.engine.dialect.name == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        statement = (
            update(outbox)
            .where(outbox.c.id.in_(chosen.scalar_subquery()))
            .values(
                status="sending",
                lease_expires=now + lease,
                lease_owner=owner,
                attempts=outbox.c.attempts + 1,
            )
            .returning(*outbox.c)
        )
        with self.engine.begin() as conn:
            rows = sorted(conn.execute(statement).all(), key=lambda row: row.id)
        return [_outbox_row(row) for row in rows]

    def mark(
        self,
        outbox_id: int,
        status: str,
        *,
        now: datetime,
        reply: str,
        next_attempt: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "last_reply": reply,
            "lease_expires": None,
            "lease_owner": None,
        }
        if status == "sent":
            values["sent_at"] = now
        if status == "deferred":
            values["next_attempt"] = next_attempt
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))

    def make_deferred_due(self, now: datetime) -> int:
        """For an operator who fixed the relay: retry every deferred row now."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox).where(outbox.c.status == "deferred").values(next_attempt=now)
            )
            return int(done.rowcount)

    def outbox_counts(self) -> dict[str, int]:
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        with self.engine.connect() as conn:
            return {status: int(count) for status, count in conn.execute(query)}

    def outbox_rows(self, subscriber: str | None = None) -> list[OutboxRow]:
        query = select(outbox).order_by(outbox.c.id)
        if subscriber:
            query = query.where(outbox.c.subscriber == subscriber.lower())
        with self.engine.connect() as conn:
            return [_outbox_row(row) for row in conn.execute(query)]

    # -- suppressions --------------------------------------------------------------------

    def suppress(self, email: str, reason: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(suppressions.c.email).where(suppressions.c.email == email.lower())
            ).first()
            if exists is None:
                conn.execute(
                    insert(suppressions).values(email=email.lower(), reason=reason, since=at)
                )

    def unsuppress(self, email: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(suppressions).where(suppressions.c.email == email.lower()))

    def is_suppressed(self, email: str) -> bool:
        return email.lower() in self.suppressed()

    def suppressed(self) -> dict[str, tuple[str, datetime]]:
        with self.engine.connect() as conn:
            return {
                row.email: (row.reason, row.since) for row in conn.execute(select(suppressions))
            }

    # -- per-subscriber delivery summary (for `subscribers`) -----------------------------

    def delivery_summary(self) -> dict[str, dict[str, Any]]:
        """Per address: last digest sent, and how many messages are failed or deferred."""
        query = select(
            outbox.c.subscriber,
            func.max(case((outbox.c.status == "sent", outbox.c.sent_at))).label("last_sent"),
            func.sum(case((outbox.c.status == "failed", 1), else_=0)).label("failed"),
            func.sum(case((outbox.c.status == "deferred", 1), else_=0)).label("deferred"),
        ).group_by(outbox.c.subscriber)
        summary: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                last = row.last_sent
                if isinstance(last, str):  # aggregates bypass the column type on SQLite
                    last = datetime.fromisoformat(last)
                if last is not None and last.tzinfo is None:
                    last = last.replace(tzinfo=UTC)
                summary[row.subscriber] = {
                    "last_sent": last,
                    "failed": int(row.failed or 0),
                    "deferred": int(row.deferred or 0),
                }
        return summary

    # -- embedding cache (semantic topics) -----------------------------------------------

    def vector_cache(self) -> VectorStore:
        return VectorStore(self.engine)


class VectorStore:
    """Entry embeddings persisted between runs: computed once per entry text, then reused."""

    MODEL = "entry-vectors"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        query = select(topic_vectors.c.vector).where(
            topic_vectors.c.text_hash == self._hash(key), topic_vectors.c.model == self.MODEL
        )
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else bytes(value)

    def put(self, key: str, value: bytes) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(topic_vectors).values(
                        text_hash=self._hash(key), model=self.MODEL, vector=value
                    )
                )
        except IntegrityError:
            pass  # another process stored the same vector first
