"""The work each scheduled job does: a digest run for one group, a feed fetch, an outbox drain.

Each returns a small summary and writes one structured log line. A ``threading.Event`` asks
the work to stop: between stages, and during delivery after the message in flight (it is
recorded first), so a SIGTERM never abandons a message the relay already accepted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter.config import ConfigError
from newsletter.config.schema import FeedModel
from newsletter.deliver.smtp import SendResult
from newsletter.delivery import SendOutcome, compose_into_outbox, deliver_outbox
from newsletter.pipeline import App, fetch
from newsletter.schedule import logs
from newsletter.schedule.timing import Group
from newsletter.store import OutboxRow

WAITING = ("pending", "sending", "deferred")


class Stopping(Exception):
    """Raised inside delivery once the in-flight message is recorded and a stop was asked."""


@dataclass
class RunSummary:
    schedule: str
    period: str
    fire_time: datetime
    fetched: int = 0
    fetch_errors: int = 0
    composed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    status: str = "done"
    """``done``, ``incomplete`` (deferred/failed), ``interrupted`` (stopped) or ``error``."""
    duration: float = 0.0


def deliver(app: App, stop: threading.Event) -> tuple[SendOutcome, bool]:
    """``deliver_outbox`` that takes no new message once ``stop`` is set; (outcome, stopped)."""
    counts = SendOutcome()

    def after_each(row: OutboxRow, result: SendResult) -> None:
        status = result.status if result.status in ("sent", "deferred", "failed") else "failed"
        setattr(counts, status, getattr(counts, status) + 1)
        if stop.is_set():
            raise Stopping

    try:
        outcome = deliver_outbox(app, on_result=after_each)
    except Stopping:
        return counts, True
    return outcome, False


def run_group(
    app: App, group: Group, fire_time: datetime, stop: threading.Event, *, catch_up: bool = False
) -> RunSummary:
    """Fetch due feeds, compose this group's digests under its run key, deliver the outbox."""
    started = time.monotonic()
    period = group.period(fire_time)
    summary = RunSummary(group.key, period, fire_time)
    try:
        if not stop.is_set():
            _fetch_before_send(app, summary)
        if not stop.is_set():
            summary.composed = compose_into_outbox(
                app, subscribers=group.subscribers, schedule=group.key, period=period
            )
        if not stop.is_set():
            outcome, stopped = deliver(app, stop)
            summary.sent, summary.deferred, summary.failed = (
                outcome.sent,
                outcome.deferred,
                outcome.failed,
            )
            if stopped:
                summary.status = "interrupted"
        if stop.is_set():
            summary.status = "interrupted"
        elif summary.deferred or summary.failed:
            summary.status = "incomplete"
    except ConfigError as exc:  # e.g. NEWSLETTER_SECRET missing: a person must act
        summary.status = "error"
        logs.event("run_error", logging.ERROR, schedule=group.key, period=period, error=str(exc))
    except Exception:
        summary.status = "error"
        logging.getLogger(logs.LOGGER).exception("run failed: %s %s", group.key, period)
    summary.duration = time.monotonic() - started
    _record(app, summary)
    fields = dataclasses.asdict(summary)
    fields["catch_up"] = catch_up
    logs.event("run", logging.INFO if summary.status == "done" else logging.WARNING, **fields)
    return summary


def _fetch_before_send(app: App, summary: RunSummary) -> None:
    """A fetch that breaks must not cost the digest: compose from what is stored."""
    try:
        outcomes = fetch(app)
    except Exception:
        summary.fetch_errors = len(app.config.feeds)
        logging.getLogger(logs.LOGGER).exception(
            "fetch before %s %s failed; composing from stored entries",
            summary.schedule,
            summary.period,
        )
        return
    summary.fetched = sum(1 for o in outcomes if o.status in ("new", "not_modified"))
    summary.fetch_errors = sum(1 for o in outcomes if o.status == "error")


def _record(app: App, summary: RunSummary) -> None:
    """Put the delivery outcome on the run row (once: the first process to finish writes it)."""
    row = app.store.last_runs().get(summary.schedule)
    if row is None or row["period"] != summary.period or row["status"] != "composed":
        return
    result = {
        "composed": (row.get("summary") or {}).get("composed", summary.composed),
        "sent": summary.sent,
        "deferred": summary.deferred,
        "failed": summary.failed,
        "duration": round(summary.duration, 3),
    }
    app.store.finish_run(row["id"], app.now(), summary.status, result)


def fetch_some(app: App, feeds: Sequence[FeedModel], stop: threading.Event) -> None:
    """The interval fetch: only ``feeds``, each still subject to its caching headers."""
    if stop.is_set() or not feeds:
        return
    started = time.monotonic()
    subset = dataclasses.replace(app, config=dataclasses.replace(app.config, feeds=tuple(feeds)))
    outcomes = fetch(subset)
    errors = [o for o in outcomes if o.status == "error"]
    logs.event(
        "fetch",
        logging.WARNING if errors else logging.INFO,
        feeds=len(outcomes),
        new_entries=sum(len(o.entries) for o in outcomes),
        skipped=sum(1 for o in outcomes if o.status == "skipped"),
        errors=len(errors),
        failing=",".join(o.feed for o in errors) or None,
        duration=time.monotonic() - started,
    )


def drain_outbox(app: App, stop: threading.Event) -> None:
    """Send what is due in the outbox (deferred retries, rows left by a stopped run)."""
    if stop.is_set():
        return
    counts = app.store.outbox_counts()
    if not any(counts.get(status) for status in WAITING):
        return
    started = time.monotonic()
    outcome, stopped = deliver(app, stop)
    if outcome.sent or outcome.deferred or outcome.failed:
        logs.event(
            "outbox",
            logging.INFO if outcome.complete else logging.WARNING,
            sent=outcome.sent,
            deferred=outcome.deferred,
            failed=outcome.failed,
            interrupted=stopped,
            duration=time.monotonic() - started,
        )
