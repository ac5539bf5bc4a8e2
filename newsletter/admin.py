"""Operator views over subscribers: who gets mail, who is suppressed, what is failing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter.app import App
from newsletter.store import DeliverySummary


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
            )
        )
    return rows
