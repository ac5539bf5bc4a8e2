"""Operator views over subscribers: who gets mail, who is suppressed, what is failing; and
the one admin action on suppressions, ``subscribers reactivate``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter.app import App
from newsletter.errors import Problem, UnknownSubscriber, UserError
from newsletter.records import SubscriberOrigin, SubscriberStatus, SuppressionReason
from newsletter.store import DeliverySummary, Suppression
from newsletter.subscriptions import roster

REACTIVATE = "subscribers reactivate"


@dataclass(frozen=True)
class SubscriberRow:
    email: str
    name: str | None
    schedule: str
    timezone: str
    topics: int
    origin: SubscriberOrigin
    status: SubscriberStatus
    """``suppressed`` wins over ``paused``, ``paused`` over ``pending``."""
    last_digest: datetime | None
    failed: int
    deferred: int
    suppressed_reason: SuppressionReason | None = None
    suppressed_at: datetime | None = None
    paused_until: datetime | None = None
    topic_ids: tuple[str, ...] = ()

    def describe(self) -> str:
        """The status as the table shows it."""
        if self.status is SubscriberStatus.SUPPRESSED and self.suppressed_at is not None:
            since = f"{self.suppressed_at:%Y-%m-%d %H:%M} UTC"
            return f"suppressed ({self.suppressed_reason}) since {since}"
        if self.status is SubscriberStatus.PAUSED and self.paused_until is not None:
            return f"paused until {self.paused_until:%Y-%m-%d}"
        return self.status.value


def subscriber_statuses(app: App) -> list[SubscriberRow]:
    """Every subscriber of every origin (and every address waiting to confirm), with what
    the database knows about them."""
    summary = app.store.delivery_summary()
    now = app.now()
    rows = []
    for listed in roster(app.config, app.store, now).listed:
        sub = listed.subscriber
        info = summary.get(sub.email.lower(), DeliverySummary())
        found = listed.suppression
        pause = listed.pause
        rows.append(
            SubscriberRow(
                email=sub.email,
                name=sub.name,
                schedule=sub.schedule,
                timezone=sub.timezone,
                topics=len(sub.topics),
                origin=listed.origin,
                status=listed.status,
                last_digest=info.last_sent,
                failed=info.failed,
                deferred=info.deferred,
                suppressed_reason=found.reason if found else None,
                suppressed_at=found.since if found else None,
                paused_until=pause.until if pause is not None and pause.until > now else None,
                topic_ids=tuple(t.id for t in sub.topics),
            )
        )
    return rows


@dataclass(frozen=True)
class Reactivation:
    email: str
    lifted: Suppression | None
    """What was lifted; None when the address was not suppressed."""


def reactivate(app: App, email: str, *, force: bool = False) -> Reactivation:
    """Lift a bounce suppression (an admin may), or, with ``force``, any.

    An unsubscribe or a complaint is the person's own word: only they undo it (the
    resubscribe page, a confirmed web subscription), unless ``force`` says they asked.
    """
    key = email.strip().lower()
    found = app.store.suppression(key)
    known = found is not None or roster(app.config, app.store, app.now()).find(key) is not None
    if not known:
        raise UnknownSubscriber(email, REACTIVATE)
    if found is None:
        return Reactivation(key, None)
    if found.reason.by_person and not force:
        who = "unsubscribed" if found.reason is SuppressionReason.UNSUBSCRIBE else "complained"
        raise UserError(
            [
                Problem(
                    REACTIVATE,
                    None,
                    f"{key} {who} on {found.since:%Y-%m-%d} ({found.reason}); only they can "
                    "undo that, by subscribing again — if they asked you to, add --force",
                )
            ]
        )
    reasons = None if force else {r for r in SuppressionReason if not r.by_person}
    return Reactivation(key, app.store.unsuppress(key, reasons))
