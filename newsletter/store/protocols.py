"""The store, split by domain: one narrow protocol per table family, each with its guarantees.

The run and the faces (``cli``, ``schedule``, ``web``) depend on these protocols, not on
SQL; :class:`newsletter.store.sql.SqlStore` implements all of them on SQLite and
PostgreSQL. Every method returns frozen records (:mod:`newsletter.store.records`,
:mod:`newsletter.records`), never rows or dicts. Every method is its own transaction
unless it says otherwise, so a crash between two calls leaves each call's work whole.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from newsletter.records import (
    Entry,
    Message,
    OutboxFailure,
    OutboxStatus,
    RunStatus,
    SuppressionReason,
)
from newsletter.sources.model import FeedState
from newsletter.store.records import (
    ArchiveCopy,
    ArchivedDigest,
    Choice,
    DeliveryRates,
    DeliverySummary,
    DigestOutcome,
    EntryWrite,
    OutboxRow,
    PaperRef,
    PaperStamp,
    Pause,
    RelayPause,
    RunRecord,
    RunTally,
    SignUp,
    SignUpAnswer,
    StoredEntry,
    StoredFeed,
    StoredSubscriber,
    Suppression,
    Taken,
)


class FeedStore(Protocol):
    """Each configured feed's caching headers and health, by feed name."""

    def stored_feeds(self) -> Mapping[str, StoredFeed]: ...

    def save_feed(
        self, name: str, state: FeedState, *, config_url: str, fetched_at: datetime
    ) -> None:
        """Replace the feed's state. Callers save entries first: a crash in between costs a
        re-fetch, never entries hidden behind a "not modified"."""


class EntryStore(Protocol):
    """One row per paper under its canonical key.

    Guarantee: concurrent writers never lose a merge. Updates name the revision they were
    computed from (:class:`EntryWrite`); a write whose revision moved, or an insert whose
    key appeared meanwhile, is returned as a conflict and nothing of it is written — the
    caller reads again, merges again and retries.
    """

    def read_entries(self, keys: Sequence[str]) -> Mapping[str, StoredEntry]: ...

    def write_entries(self, writes: Sequence[EntryWrite], *, now: datetime) -> list[str]:
        """Apply the writes in one transaction; returns the keys that conflicted."""

    def entries_since(self, since: datetime) -> list[Entry]:
        """Entries published, first seen or changed (a new version) at or after ``since``."""

    def all_entries(self) -> list[Entry]: ...

    def entry_count(self) -> int: ...


class RunStore(Protocol):
    """Digest runs, unique per (schedule, period): the guard against composing twice."""

    def claim_run(
        self, schedule: str, period: str, now: datetime, stale_after: timedelta = ...
    ) -> int | None:
        """The run's id if this caller now owns it; None when another process has it.

        A run still ``composing`` after ``stale_after`` was abandoned and is taken over."""

    def run_subscribers(self, run_id: int) -> set[str]:
        """Addresses that already have a digest in this run (for a takeover)."""

    def finish_run(
        self, run_id: int, now: datetime, status: RunStatus, tally: RunTally
    ) -> None: ...

    def last_runs(self) -> Mapping[str, RunRecord]:
        """The latest run of each schedule."""


class OutboxStore(Protocol):
    """Composed messages on their way to the relay.

    Guarantees: a message is written whole with the entries it carries, in one transaction
    per batch; a row is claimed by one sender at a time (a lease); an entry counts as
    delivered only through a ``sent`` row; no subscriber gets one entry in two active rows.
    """

    def taken_entries_of(self, subscribers: Sequence[str]) -> Mapping[str, Taken]: ...

    def last_digests_of(self, subscribers: Sequence[str]) -> Mapping[str, datetime | None]:
        """When each subscriber's latest digest that was not abandoned was composed."""

    def enqueue(
        self,
        run_id: int,
        messages: Sequence[Message],
        now: datetime,
        *,
        archive: Sequence[ArchiveCopy] = (),
    ) -> int:
        """Write pending rows; a message carrying an entry already in an active row of the
        same subscriber (another process composed them meanwhile) is dropped. Returns how
        many were written.

        ``archive`` names the messages that can be read on the web (by ``message_id``);
        each kept message's archive row is written in the same transaction, a dropped
        message's is not."""

    def discard_pending(self, run_id: int) -> int:
        """Delete the run's rows that nobody has claimed yet (with what they carry)."""

    def record_failure(self, run_id: int, subscriber: str, reason: str, now: datetime) -> None:
        """A digest that could not be made (a failure of ours, not of the address)."""

    def release_dead_leases(
        self, now: datetime, host: str, alive: Callable[[int], bool]
    ) -> int: ...

    def release(self, outbox_ids: Sequence[int]) -> int:
        """Put claimed rows back to ``pending`` without spending their attempt."""

    def restore(self, outbox_ids: Sequence[int]) -> int:
        """Put rows a paused run had marked ``failed`` or ``deferred`` back to ``pending``,
        as if never tried (attempt given back, failure cleared). Rows another process has
        taken since are left alone."""

    def claim(
        self,
        now: datetime,
        lease: timedelta,
        limit: int,
        *,
        owner: str | None = None,
        schedule: str | None = None,
        run_id: int | None = None,
    ) -> list[OutboxRow]: ...

    def mark(
        self,
        outbox_id: int,
        status: OutboxStatus,
        *,
        now: datetime,
        reply: str,
        next_attempt: datetime | None = None,
        failure: OutboxFailure | None = None,
    ) -> None: ...

    def make_deferred_due(self, now: datetime) -> int: ...

    def outbox_counts(self) -> Mapping[OutboxStatus, int]: ...

    def outbox_rows(self, subscriber: str | None = None) -> list[OutboxRow]: ...

    def next_retry(self) -> datetime | None:
        """When the earliest deferred message is due again."""

    def delivery_summary(self) -> Mapping[str, DeliverySummary]: ...

    def find_message(
        self, *, token: str | None = None, message_id: str | None = None
    ) -> OutboxRow | None:
        """The row a return token (or, failing that, a Message-ID) names; None if none."""

    def record_report(self, outbox_id: int, report: SuppressionReason, at: datetime) -> bool:
        """Note what a report that came by mail said of a message; the first report of a
        kind stays, a stronger one (a complaint after a bounce) replaces it. True when the
        row changed."""

    def recent_outcomes(self, subscriber: str, count: int) -> list[DigestOutcome]:
        """How the address's latest ``count`` settled digests ended, newest first; our own
        failures (``internal``) and digests still on their way are left out."""

    def delivery_rates(self, since: datetime) -> DeliveryRates:
        """Bounces and complaints of the messages composed since ``since``."""


class SuppressionStore(Protocol):
    """Addresses that must not be mailed; they win over ``subscribers.yaml``.

    Guarantees: ``suppress`` is idempotent and safe under concurrency: the first reason
    and date are kept, unless the new reason is stronger (the person's own unsubscribe or
    complaint outranks a hard bounce, which outranks a soft one). ``unsuppress`` lifts
    only the reasons it is given."""

    def suppress(self, email: str, reason: SuppressionReason, at: datetime) -> bool:
        """True when this call added the address or strengthened its reason."""

    def unsuppress(
        self, email: str, reasons: Collection[SuppressionReason] | None = None
    ) -> Suppression | None:
        """Lift the suppression if its reason is among ``reasons`` (None: any); returns
        what was lifted, None when nothing was."""

    def suppression(self, email: str) -> Suppression | None: ...

    def is_suppressed(self, email: str) -> bool: ...

    def suppressions(self) -> Mapping[str, Suppression]: ...


class SubscriberStore(Protocol):
    """Subscribers added on the web or imported, sign-ups waiting for confirmation, pauses.

    Guarantees: a sign-up never changes what an address receives until it is confirmed;
    of any number of concurrent requests for one address, at most one an hour is told to
    mail; confirming lifts the address's suppression in the same transaction.
    """

    def stored_subscribers(self) -> list[StoredSubscriber]: ...

    def stored_subscriber(self, email: str) -> StoredSubscriber | None: ...

    def save_subscriber(self, subscriber: StoredSubscriber) -> None:
        """Insert or replace (``subscribers import``)."""

    def change_subscriber(self, email: str, choice: Choice, now: datetime) -> bool:
        """New topics, schedule or time zone from the next digest; False if not stored."""

    def remove_subscriber(self, email: str) -> bool:
        """Delete the subscriber, its pending sign-up and its pause."""

    def signups(self) -> list[SignUp]: ...

    def signup(self, email: str) -> SignUp | None: ...

    def request_signup(
        self,
        request: SignUp,
        *,
        mail_after: datetime,
        expired_before: datetime,
        cap: int = 0,
    ) -> SignUpAnswer: ...

    def confirm_signup(
        self, email: str, *, issued_before: datetime, now: datetime, client: str | None
    ) -> StoredSubscriber | None: ...

    def expire_signups(self, before: datetime) -> int:
        """Delete sign-ups requested before ``before`` (never confirmed); returns how many."""

    def pause(self, email: str, since: datetime, until: datetime) -> None: ...

    def unpause(self, email: str) -> bool: ...

    def pauses(self) -> Mapping[str, Pause]: ...


class PaperStore(Protocol):
    """What the public pages read: stored papers by publication time (which is the
    first-seen time when a feed gave no date)."""

    def paper_refs(self, start: datetime, end: datetime) -> list[PaperRef]:
        """The papers published in ``[start, end)``, light: key, revision and what ranks
        them (no text to decode), so a page reuses what it built from an unchanged
        revision and reads the rest with ``read_entries``."""

    def papers_stamp(self, start: datetime, end: datetime | None = None) -> PaperStamp:
        """How many entries were published in ``[start, end)`` and when one last changed:
        one cheap query that tells whether a page built from them is still current."""

    def published_before(self, moment: datetime) -> datetime | None:
        """The latest publication time before ``moment`` (the previous day with papers)."""

    def published_from(self, moment: datetime) -> datetime | None:
        """The earliest publication time at or after ``moment`` (the next day with papers)."""

    def newest_refs(self, limit: int) -> list[PaperRef]:
        """The ``limit`` most recently published papers, light (see ``paper_refs``),
        newest first."""


class ArchiveStore(Protocol):
    """Digests as they were sent, readable at ``/d/<token>`` until they expire.

    Guarantees: a token names one message; expiring removes the message's bytes and the
    list of matches but keeps the token (so a late visitor learns the copy expired rather
    than that it never existed) and the delivery history. Messages still waiting to be
    delivered are never expired."""

    def archived(self, token: str) -> ArchivedDigest | None: ...

    def expire_archive(self, before: datetime, now: datetime) -> int:
        """Remove the copies archived before ``before``; returns how many went."""


class RelayStore(Protocol):
    """Whether delivery is paused because the relay refused everything, shared by every
    process (the daemon waits it out; ``status`` shows it)."""

    def relay_pause(self) -> RelayPause | None: ...

    def save_relay_pause(self, pause: RelayPause) -> None: ...

    def clear_relay_pause(self, paused_at: datetime | None = None) -> bool:
        """Forget the pause (the relay takes mail again); with ``paused_at``, only the pause
        recorded then, never one another process recorded since. True when one was."""


class VectorStore(Protocol):
    """Entry embeddings for semantic topics, computed once per text and model."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...


class Storage(
    FeedStore,
    EntryStore,
    RunStore,
    OutboxStore,
    SuppressionStore,
    SubscriberStore,
    RelayStore,
    PaperStore,
    ArchiveStore,
    Protocol,
):
    """Everything the run needs, in one object (the SQL store implements it all)."""

    def vector_cache(self) -> VectorStore: ...

    def close(self) -> None: ...
