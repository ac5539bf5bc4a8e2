"""What the store hands out: frozen records, never ORM rows or dicts.

Pipeline records (``Entry``, ``Message``…) live in :mod:`newsletter.records`; these are
the store's own views of its tables, used by the run and by the commands that report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from newsletter.records import (
    Entry,
    OutboxFailure,
    OutboxStatus,
    RunStatus,
    SubscriberOrigin,
    SuppressionReason,
)
from newsletter.sources.model import FeedState

NOTICE_SCHEDULE = "confirm"
"""The run schedule of confirmation mails: outbox rows that are not digests (they never
count as a subscriber's previous digest)."""


@dataclass(frozen=True, slots=True)
class StoredFeed:
    """A feed's remembered state, and the configured URL it was fetched under."""

    name: str
    state: FeedState
    config_url: str | None
    """The URL in the config when the state was saved: a feed whose configured URL changed
    starts afresh (a 301 moves ``state.url`` only)."""
    last_fetch: datetime | None

    def state_for(self, config_url: str) -> FeedState | None:
        """The state to fetch with, or None when the configured URL has changed since."""
        return self.state if self.config_url == config_url else None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored, with the revision an update must name (optimistic concurrency)."""

    entry: Entry
    revision: int


@dataclass(frozen=True, slots=True)
class EntryWrite:
    """One entry to insert (``expected`` None) or to update from revision ``expected``."""

    entry: Entry
    expected: int | None = None


@dataclass(frozen=True, slots=True)
class RunTally:
    """The counts a finished run records on its row."""

    composed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    schedule: str
    period: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    tally: RunTally


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    run_id: int
    subscriber: str
    status: OutboxStatus
    message_id: str
    subject: str
    data: bytes
    attempts: int
    created_at: datetime
    next_attempt: datetime | None
    last_reply: str | None
    token: str | None = None
    """The return token its envelope sender and mailed-unsubscribe address carry."""
    failure: OutboxFailure | None = None
    report: SuppressionReason | None = None
    """What a report that arrived later by mail said of it (a DSN, a complaint…)."""


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """How one settled digest of an address ended, for counting soft bounces."""

    status: OutboxStatus
    failure: OutboxFailure | None
    report: SuppressionReason | None

    @property
    def bounced(self) -> bool:
        """Refused, given up on, or returned as a bounce later (never a failure of ours)."""
        return self.failure in (OutboxFailure.REFUSED, OutboxFailure.EXPIRED) or self.report in (
            SuppressionReason.BOUNCE_HARD,
            SuppressionReason.BOUNCE_SOFT,
        )


@dataclass(frozen=True, slots=True)
class DeliveryRates:
    """Messages composed since a moment, and how many bounced or drew a complaint.

    ``attempted`` counts every message handed to the relay (sent or refused by it), the
    base of the bounce rate; ``sent`` the messages it accepted, the base of the
    complaint rate. Failures of ours are in neither.
    """

    attempted: int = 0
    sent: int = 0
    bounced: int = 0
    complaints: int = 0

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.attempted if self.attempted else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0


@dataclass(frozen=True, slots=True)
class RelayPause:
    """Delivery stopped because the relay refused everything; tried again after ``until``."""

    reason: str
    """The relay's last answer, as the run that paused saw it."""
    since: datetime
    """The first pause of this series (cleared when a message goes through)."""
    paused_at: datetime
    until: datetime
    pauses: int
    """Pauses in a row; the wait doubles with each."""

    def active(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True, slots=True)
class Taken:
    """What one subscriber already has: entries in their pending, sending, deferred or sent
    digests, and the newest version of each they were sent."""

    keys: frozenset[str] = frozenset()
    newest: Mapping[str, int] = field(default_factory=dict)
    """Entry key → the newest version carried (only for entries with a version)."""

    def has_older_version_of(self, entry: Entry) -> bool:
        """A paper this subscriber has, in a version older than ``entry``'s (arXiv replace)."""
        if entry.key not in self.keys or entry.version is None:
            return False
        seen = self.newest.get(entry.key)
        return seen is None or entry.version > seen


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    """Per address, for ``subscribers``: the last digest sent, and what is failing."""

    last_sent: datetime | None = None
    failed: int = 0
    deferred: int = 0


@dataclass(frozen=True, slots=True)
class Suppression:
    email: str
    reason: SuppressionReason
    since: datetime


@dataclass(frozen=True, slots=True)
class PaperRef:
    """Enough of a paper to rank it and to know whether a copy of it is current."""

    key: str
    revision: int
    popularity: int | None
    published: datetime


@dataclass(frozen=True, slots=True)
class PaperStamp:
    """What a set of entries looks like from outside, without loading them: their number
    and the last time one of them changed (for ETags, Last-Modified and page caches)."""

    count: int = 0
    changed: datetime | None = None


@dataclass(frozen=True, slots=True)
class ArchivedMatch:
    """One paper on an archived digest's "every match" page: what it is and why it matched."""

    title: str
    link: str | None
    topics: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    in_mail: bool = True
    """Shown in the mail (False: cut by ``max_items`` or the size budget)."""


@dataclass(frozen=True, slots=True)
class ArchiveCopy:
    """What the outbox keeps beside a message so that it can be read on the web.

    The message itself is the copy (its HTML part, read from the outbox at display time),
    so this adds only the unguessable token and, when the digest was cut, every match.
    """

    token: str
    message_id: str
    """The message this copy belongs to (it is written in the same transaction)."""
    matches: tuple[ArchivedMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class ArchivedDigest:
    """An archived digest as the web reads it.

    ``data`` is the message as sent (empty once the copy expired); ``subscriber`` is only
    there so the page can leave the address out."""

    token: str
    created_at: datetime
    subscriber: str
    data: bytes
    matches: tuple[ArchivedMatch, ...]
    expired: bool
    """The copy was removed by the archive cleanup (the delivery history stays)."""


@dataclass(frozen=True, slots=True)
class Choice:
    """What a subscriber receives: library topics by id (so an admin's edit of a topic reaches
    everyone who chose it), their own topic in plain words, a schedule, a time zone."""

    topics: tuple[str, ...]
    """Library topic ids; ``trending`` is the built-in one."""
    own_topic: str | None = None
    """Plain words of their own (``about:`` with the semantic extra, else a ``query:``)."""
    schedule: str = "daily"
    timezone: str = "UTC"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class StoredSubscriber:
    """A subscriber kept in the database (origin ``web`` or ``import``)."""

    email: str
    """Lower case."""
    origin: SubscriberOrigin
    choice: Choice
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    """When the address confirmed (None for an import the admin vouched for)."""
    confirmed_from: str | None = None
    """The client address the confirmation came from: the evidence of consent."""


@dataclass(frozen=True, slots=True)
class SignUp:
    """A request to subscribe that waits for its confirmation."""

    email: str
    origin: SubscriberOrigin
    choice: Choice
    requested_at: datetime
    requested_from: str | None = None
    mailed_at: datetime | None = None
    """When the last confirmation mail for it was queued (at most one an hour)."""


@dataclass(frozen=True, slots=True)
class SignUpAnswer:
    """What :meth:`SubscriberStore.request_signup` decided."""

    mail: bool
    """Queue a confirmation now (none was queued for this address in the last hour)."""
    full: bool = False
    """``max_subscribers`` is reached: nothing was recorded."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Digests stopped for a while at the subscriber's request."""

    email: str
    since: datetime
    until: datetime
