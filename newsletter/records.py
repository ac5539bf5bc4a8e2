"""Typed, immutable records that flow between the pipeline stages.

Every stage takes and returns these (never ORM rows or dicts), so a stage can be
tested by building records by hand, and a record can be handed to another
thread or process without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

Span = tuple[int, int]
"""A half-open character range ``[start, end)`` inside a piece of text."""

Stemming = Literal["plural", "snowball"]
"""How a topic's words are reduced before comparison (see docs/matching.md)."""


class OutboxStatus(StrEnum):
    """Where one message stands: ``pending → sending → sent | deferred → failed``."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"


ACTIVE_OUTBOX_STATUSES = (
    OutboxStatus.PENDING,
    OutboxStatus.SENDING,
    OutboxStatus.DEFERRED,
    OutboxStatus.SENT,
)
"""An entry in a row with one of these is taken: composition never puts it in another digest."""


class SendFailure(StrEnum):
    """Why one SMTP hand-over did not end in ``sent`` (what a run's pause logic looks at)."""

    REFUSED = "refused"
    """The relay answered this message with a 4xx or 5xx reply."""
    DROPPED = "dropped"
    """The connection broke or timed out during the transaction."""
    UNREACHABLE = "unreachable"
    """No session could be opened (connect, TLS, greeting): nothing about this message."""
    AUTH = "auth"
    """The relay refused the login: nothing will go out until someone fixes it."""
    INVALID = "invalid"
    """The address cannot be put in an envelope (never reached the relay)."""


class OutboxFailure(StrEnum):
    """Why a row ended ``failed`` (``outbox.failure``): the relay's doing, or ours."""

    INTERNAL = "internal"
    """The digest could not be made: a failure of ours, never counted against the address."""
    REFUSED = "refused"
    """The relay refused the message for good (a 5xx answer)."""
    EXPIRED = "expired"
    """Deferred until giving up (3 days of temporary refusals or an unreachable inbox)."""


class SuppressionReason(StrEnum):
    """Why an address gets no mail, and who may lift it."""

    BOUNCE_HARD = "bounce-hard"
    """The mailbox or domain does not exist (a 5.1.x refusal, at SMTP time or in a DSN)."""
    BOUNCE_SOFT = "bounce-soft"
    """Its last 3 digests bounced (refused, given up on, or returned as mail)."""
    COMPLAINT = "complaint"
    """The person marked a digest as spam (a feedback-loop report)."""
    UNSUBSCRIBE = "unsubscribe"
    """The person asked to stop (the web page, one-click, or a mail to the unsubscribe address)."""

    @property
    def by_person(self) -> bool:
        """Only the person (or ``reactivate --force``) may lift it; bounces an admin may."""
        return self in (SuppressionReason.COMPLAINT, SuppressionReason.UNSUBSCRIBE)

    @property
    def rank(self) -> int:
        """A stronger reason replaces a weaker one: the person's own word beats a bounce."""
        return {"bounce-soft": 1, "bounce-hard": 2}.get(self.value, 3)


class SubscriberOrigin(StrEnum):
    """Where a subscriber was added, which decides who may change it."""

    CONFIG = "config"
    """subscribers.yaml: the admin's; read-only on the web except pause and unsubscribe."""
    WEB = "web"
    """Signed up and confirmed on the web."""
    IMPORT = "import"
    """Brought in by ``subscribers import`` (the admin vouches for consent)."""


class SubscriberStatus(StrEnum):
    """One address's state; ``suppressed`` wins over ``paused``, ``paused`` over ``pending``."""

    PENDING = "pending"
    """Asked to subscribe, has not confirmed yet: gets no digest."""
    ACTIVE = "active"
    PAUSED = "paused"
    SUPPRESSED = "suppressed"


class FetchStatus(StrEnum):
    """What one fetch of one feed did."""

    NEW = "new"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    SKIPPED = "skipped"
    """Not due yet (caching headers, backoff) or disabled."""


class HealthStatus(StrEnum):
    """How a feed is doing over its recent fetches (one bad fetch is weather, three a problem)."""

    NEVER = "never"
    OK = "ok"
    QUIET = "quiet"
    RETRYING = "retrying"
    """Never succeeded yet, failed fewer times than the threshold."""
    FAILING = "failing"
    DISABLED = "disabled"

    @property
    def needs_attention(self) -> bool:
        return self in (HealthStatus.FAILING, HealthStatus.DISABLED)


class RunStatus(StrEnum):
    """A digest run's life: claimed while ``composing``, ``composed`` once the outbox holds
    its digests, then how its delivery ended."""

    COMPOSING = "composing"
    COMPOSED = "composed"
    DONE = "done"
    INCOMPLETE = "incomplete"
    """Some messages deferred or failed."""
    INTERRUPTED = "interrupted"
    """Stopped by a signal; what is left is sent by the next run."""
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Entry:
    """One paper or post, as stored once under its canonical key."""

    key: str
    """Canonical key: ``arxiv:<id>`` (no version), ``doi:<doi>``, ``url:<normalised link>``
    or ``guid:<feed guid>``."""
    title: str
    link: str
    published: datetime
    """Timezone-aware UTC; the first-seen time when the feed gave no date."""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    """Names of the configured feeds that carried this entry."""
    pdf_link: str | None = None
    popularity: int | None = None
    """Upvotes or similar, when a source gives it."""
    arxiv_id: str | None = None
    version: int | None = None
    announce_type: str | None = None
    first_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """A subscriber interest: a query in the topic language and/or plain words (``about``)."""

    id: str
    title: str
    query: str | None = None
    about: str | None = None
    threshold: float | None = None
    require: str = "either"
    """``either`` (query or about matches) or ``both``."""
    stemming: Stemming = "plural"
    """``plural`` folds only regular plurals (the default); ``snowball`` stems words."""
    trending: int | None = None
    """The N most popular papers of the period; ``query``/``about``, if any, narrow them."""


@dataclass(frozen=True, slots=True)
class Subscriber:
    email: str
    topics: tuple[Topic, ...]
    schedule: str
    timezone: str = "UTC"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """Why one entry matched one topic."""

    topic_id: str
    score: float
    terms: tuple[str, ...] = ()
    """The matched words as written in the entry (for "why it matched")."""
    title_spans: tuple[Span, ...] = ()
    abstract_spans: tuple[Span, ...] = ()
    similarity: float | None = None
    """Cosine similarity for semantic (``about``) topics."""


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One entry in a subscriber's digest, with everything needed to explain and highlight it."""

    entry: Entry
    score: float
    topics: tuple[str, ...]
    """Titles of the subscriber's topics this entry matched (it appears once, in the first)."""
    terms: tuple[str, ...] = ()
    title_spans: tuple[Span, ...] = ()
    abstract_spans: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    topic: Topic
    items: tuple[DigestItem, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """What one subscriber gets in one run, before rendering."""

    subscriber: Subscriber
    sections: tuple[Section, ...]
    created: datetime
    updated: tuple[Entry, ...] = ()
    """Later versions of papers already delivered, listed briefly at the end."""
    omitted: int = 0
    """Matches left out because ``digest.max_items`` was reached (the digest says so:
    "and N more matches")."""
    overflow: tuple[DigestItem, ...] = ()
    """Those matches themselves, best first: the web archive lists them on the digest's
    "every match" page (``/d/<token>/all``)."""

    @property
    def items(self) -> tuple[DigestItem, ...]:
        return tuple(item for section in self.sections for item in section.items)

    @property
    def entry_keys(self) -> tuple[str, ...]:
        return tuple(item.entry.key for item in self.items) + tuple(e.key for e in self.updated)

    @property
    def carried(self) -> tuple[CarriedEntry, ...]:
        """What the outbox records as carried: each paper with its version, each update."""
        items = (CarriedEntry(i.entry.key, i.entry.version) for i in self.items)
        updates = (CarriedEntry(e.key, e.version, update=True) for e in self.updated)
        return (*items, *updates)


@dataclass(frozen=True, slots=True)
class DigestLinks:
    """The per-subscriber links a digest carries (absolute URLs under ``base_url``).

    ``view_url`` is the archived copy ("View in browser"); ``all_url`` lists every match of
    a digest that was cut. Either is None when the web archive is not in use.
    """

    unsubscribe_url: str
    manage_url: str | None = None
    view_url: str | None = None
    all_url: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    """One digest rendered: what a reader sees, and the MIME bodies exactly as they are sent.

    ``html_qp`` and ``text_qp`` are the quoted-printable bodies of the two parts (CRLF line
    ends); building the message only joins them with headers. ``links`` are the links the
    digest was rendered with (the message's ``List-Unsubscribe`` and ``Archived-At``).
    """

    subject: str
    html: str
    text: str
    html_qp: bytes
    text_qp: bytes
    links: DigestLinks

    @property
    def html_size(self) -> int:
        """Bytes of the encoded HTML part: what the size budget and Gmail's clipping count."""
        return len(self.html_qp)


@dataclass(frozen=True, slots=True)
class CarriedEntry:
    """One entry a message carries, as the outbox records it."""

    key: str
    version: int | None = None
    """The version carried (arXiv), so a later one can be told apart and listed once."""
    update: bool = False
    """Listed under "Updated": a later version of a paper the subscriber already has."""


@dataclass(frozen=True, slots=True)
class Message:
    """A complete email, as the exact bytes that go over SMTP (or into a dry-run ``.eml``)."""

    recipient: str
    sender: str
    message_id: str
    subject: str
    data: bytes
    html: str
    text: str
    carried: tuple[CarriedEntry, ...] = field(default=())
    token: str | None = None
    """The message's return token: its VERP envelope sender and mailed-unsubscribe address
    carry it, so a bounce, a complaint or an unsubscribe maps back to this one message."""
    html_size: int = 0
    """Bytes of the HTML part as sent (quoted-printable), what Gmail's clipping counts."""
    view_token: str | None = None
    """The token of the message's copy on the web (``/d/<token>``, its "View in browser"
    link); None when it has none (a dry run, a preview)."""

    @property
    def item_count(self) -> int:
        """Papers in the digest proper (updates are listed, not counted)."""
        return sum(not entry.update for entry in self.carried)
