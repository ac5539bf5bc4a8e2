"""Operator views over subscribers: who gets mail, who is suppressed, what is failing; and
the one admin action on suppressions, ``subscribers reactivate``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter.app import App
from newsletter.errors import Problem, UnknownSubscriber, UserError
from newsletter.records import SuppressionReason
from newsletter.store import DeliverySummary, Suppression

REACTIVATE = "subscribers reactivate"


@dataclass(frozen=True)
class SubscriberStatus:
    email: str
    name: str | None
    schedule: str
    timezone: str
    topics: int
    status: str
    """``active`` or ``suppressed (reason) since …``."""
    last_digest: datetime | None
    failed: int
    deferred: int
    suppressed_reason: SuppressionReason | None = None
    suppressed_at: datetime | None = None


def subscriber_statuses(app: App) -> list[SubscriberStatus]:
    """Every subscriber in the config, with what the database knows about them."""
    suppressed = app.store.suppressions()
    summary = app.store.delivery_summary()
    rows = []
    for sub in app.config.subscribers:
        key = sub.email.lower()
        info = summary.get(key, DeliverySummary())
        found = suppressed.get(key)
        if found is not None:
            status = f"suppressed ({found.reason}) since {found.since:%Y-%m-%d %H:%M} UTC"
        else:
            status = "active"
        rows.append(
            SubscriberStatus(
                email=sub.email,
                name=sub.name,
                schedule=sub.schedule,
                timezone=sub.timezone,
                topics=len(sub.topics),
                status=status,
                last_digest=info.last_sent,
                failed=info.failed,
                deferred=info.deferred,
                suppressed_reason=found.reason if found else None,
                suppressed_at=found.since if found else None,
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
    known = found is not None or any(s.email.lower() == key for s in app.config.subscribers)
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
