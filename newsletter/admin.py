"""Operator views over subscribers and the unsubscribe web app's wiring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from newsletter.pipeline import App


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
    suppressed = app.store.suppressed()
    summary = app.store.delivery_summary()
    rows = []
    for sub in app.config.subscribers:
        key = sub.email.lower()
        info = summary.get(key, {})
        if key in suppressed:
            reason, since = suppressed[key]
            status = f"suppressed ({reason}) since {since:%Y-%m-%d %H:%M} UTC"
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
                last_digest=info.get("last_sent"),
                failed=int(info.get("failed", 0)),
                deferred=int(info.get("deferred", 0)),
            )
        )
    return rows


def serve(app: App, *, host: str, port: int) -> None:
    """Run the unsubscribe web app under the path of ``base_url`` until interrupted."""
    from newsletter.web import create_app
    from newsletter.web import serve as run_server

    secret = app.env.require_secret()
    web = create_app(
        secret=secret,
        suppressions=app.store,
        base_path=urlparse(app.config.base_url).path or "/",
        title=app.config.title,
        now=app.clock,
    )
    run_server(web, host=host, port=port)
