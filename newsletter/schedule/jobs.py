"""The work each scheduled job does: a digest run for one group, a feed fetch, an outbox drain.

Each drives the same :class:`~newsletter.run.DigestRun` the commands use and writes one
structured log line. The daemon's ``threading.Event`` is the run's stop token: checked
between phases, and during delivery after each message (recorded first), so a SIGTERM
never abandons a message the relay already accepted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from newsletter import logs
from newsletter.app import App
from newsletter.config.schema import FeedModel
from newsletter.errors import NewsletterError
from newsletter.records import FetchStatus, OutboxStatus, RunStatus
from newsletter.run import Audience, DigestRun, OutboxSink, RunOptions, RunResult
from newsletter.run.archive import expire_archive
from newsletter.run.feeds import fetch_and_store
from newsletter.schedule.timing import Group

event = logs.events(__name__)

WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.DEFERRED)


@dataclass(frozen=True)
class RunSummary:
    """One scheduled run as the daemon saw it: which, when, and the run's result."""

    schedule: str
    period: str
    fire_time: datetime
    result: RunResult
    duration: float
    error: bool = False

    @property
    def status(self) -> RunStatus:
        return RunStatus.ERROR if self.error else self.result.status

    def fields(self) -> dict[str, Any]:
        tally = self.result.tally
        fetched = self.result.fetched
        return {
            "schedule": self.schedule,
            "period": self.period,
            "fire_time": self.fire_time,
            "fetched": sum(
                o.status in (FetchStatus.NEW, FetchStatus.NOT_MODIFIED) for o in fetched
            ),
            "fetch_errors": sum(o.status is FetchStatus.ERROR for o in fetched),
            "composed": tally.composed,
            "sent": tally.sent,
            "deferred": tally.deferred,
            "failed": tally.failed,
            "status": self.status.value,
            "paused": self.result.paused is not None,
            "duration": self.duration,
        }


def run_group(
    app: App, group: Group, fire_time: datetime, stop: threading.Event, *, catch_up: bool = False
) -> RunSummary:
    """Fetch due feeds, compose this group's digests under its run key, deliver the outbox."""
    started = time.monotonic()
    period = group.period(fire_time)
    options = RunOptions(
        schedule=group.key,
        period=period,
        audience=Audience(group=tuple(group.subscribers)),
        wait_out_pause=True,
    )
    run = DigestRun(app, OutboxSink(app.store, app.store), options, stop=stop)
    error = False
    try:
        run.check()
        if not stop.is_set():
            _fetch_before_send(run)
        run.options.fetch = False
        run.execute()
    except NewsletterError as exc:  # e.g. NEWSLETTER_SECRET missing: a person must act
        error = True
        event("run_error", logging.ERROR, schedule=group.key, period=period, error=str(exc))
    except Exception:
        error = True
        event("run_failed", logging.ERROR, exc_info=True, schedule=group.key, period=period)
    summary = RunSummary(
        group.key, period, fire_time, run.result, time.monotonic() - started, error
    )
    level = logging.INFO if summary.status is RunStatus.DONE else logging.WARNING
    event("run", level, **summary.fields(), catch_up=catch_up)
    return summary


def _fetch_before_send(run: DigestRun) -> None:
    """A fetch that breaks must not cost the digest: compose from what is stored."""
    try:
        run.fetch()
    except Exception:
        event(
            "fetch_failed",
            logging.ERROR,
            exc_info=True,
            schedule=run.options.schedule,
            period=run.period,
            then="composing from stored entries",
        )


def fetch_some(app: App, feeds: Sequence[FeedModel], stop: threading.Event) -> None:
    """The interval fetch: only ``feeds``, each still subject to its caching headers."""
    if stop.is_set() or not feeds:
        return
    started = time.monotonic()
    config = dataclasses.replace(app.config, feeds=tuple(feeds))
    outcomes = fetch_and_store(config, app.store, app.store, now=app.clock)
    errors = [o for o in outcomes if o.status is FetchStatus.ERROR]
    event(
        "fetch",
        logging.WARNING if errors else logging.INFO,
        feeds=len(outcomes),
        new_entries=sum(len(o.entries) for o in outcomes),
        skipped=sum(o.status is FetchStatus.SKIPPED for o in outcomes),
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
    options = RunOptions(fetch=False, wait_out_pause=True)
    run = DigestRun(app, OutboxSink(app.store, app.store), options, stop=stop)
    run.check()
    stopped = run.deliver()
    tally = run.result.tally
    if tally.sent or tally.deferred or tally.failed:
        event(
            "outbox",
            logging.INFO if tally.complete else logging.WARNING,
            sent=tally.sent,
            deferred=tally.deferred,
            failed=tally.failed,
            interrupted=stopped,
            duration=time.monotonic() - started,
        )


def clean_archive(app: App, stop: threading.Event) -> None:
    """The daily cleanup: archived copies older than ``archive_days`` leave the web, and
    sign-ups nobody confirmed within ``subscribe.confirm_hours`` are forgotten."""
    if stop.is_set():
        return
    try:
        expire_archive(app)
    except Exception:
        event("archive_cleanup_failed", logging.ERROR, exc_info=True)
    try:
        hours = timedelta(hours=app.config.subscribe.confirm_hours)
        if forgotten := app.store.expire_signups(app.now() - hours):
            event("signups_expired", count=forgotten)
    except Exception:
        event("signup_cleanup_failed", logging.ERROR, exc_info=True)
