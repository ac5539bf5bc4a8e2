"""`newsletter run`: an APScheduler 3 scheduler that sends every digest on time, once.

Jobs are rebuilt from the config at every start and on SIGHUP (memory job store, explicit
ids, ``replace_existing``) — nothing pickled survives in the database to be run later. All
jobs share one worker thread, so a fetch, a digest run and an outbox drain never overlap
within a process; across processes the run key (unique in ``runs``) and the outbox claim
keep each digest to one send.

APScheduler forgets missed fires on restart, so catch-up is ours: at start, each group
whose latest fire time lies within ``catch_up`` and whose run key is not yet in ``runs``
runs once, immediately.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from newsletter import logs
from newsletter.app import App
from newsletter.config import Config, ConfigError
from newsletter.config.schema import FeedModel, parse_duration
from newsletter.records import RunStatus
from newsletter.run import DigestRun, OutboxSink
from newsletter.run.mailbox import mailbox_url
from newsletter.schedule.bounces import POLL_EVERY, bounce_job
from newsletter.schedule.jobs import (
    RunSummary,
    clean_archive,
    drain_outbox,
    fetch_some,
    run_group,
)
from newsletter.schedule.timing import Group, groups, latest_fire
from newsletter.store import STALE_RUN
from newsletter.subscriptions import roster

UTC = ZoneInfo("UTC")
DRAIN_EVERY = timedelta(minutes=2)
ARCHIVE_CLEANUP_EVERY = timedelta(days=1)
WATCH_SUBSCRIBERS = timedelta(minutes=1)
"""How soon a web subscriber's new schedule or time zone gets its cron job."""
"""How often archived digests past ``archive_days`` are removed."""
"""How often deferred messages whose backoff has passed are retried."""
POLL = 0.2
"""Seconds between looks at the signals received (the handler itself only records them)."""
STOP_TIMEOUT = 45.0
"""Seconds to wait for the job in flight after SIGTERM before giving up on it."""

ConfigLoader = Callable[[], Config]

event = logs.events(__name__)


def fetch_groups(config: Config) -> dict[timedelta, list[FeedModel]]:
    """Feeds by fetch interval (their own ``fetch_every`` or the newsletter's default)."""
    by_interval: dict[timedelta, list[FeedModel]] = {}
    for feed in config.feeds:
        every = parse_duration(feed.fetch_every) if feed.fetch_every else config.fetch_every
        by_interval.setdefault(every, []).append(feed)
    return by_interval


class Daemon:
    """The scheduler and its jobs for one process; signal handling lives in :func:`run_daemon`."""

    def __init__(
        self,
        app: App,
        load_config: ConfigLoader,
        *,
        scheduler: BackgroundScheduler | None = None,
        drain_every: timedelta = DRAIN_EVERY,
        log_handler: logging.Handler | None = None,
    ) -> None:
        self.app = app
        self.config = app.config
        self.load_config = load_config
        self.stop = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self._busy = threading.Lock()
        self.drain_every = drain_every
        self.log_handler = log_handler
        self.scheduler = scheduler or BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1)},
            timezone=UTC,
        )
        self.groups: dict[str, Group] = {}
        self.last: dict[str, RunSummary] = {}

    # -- jobs ------------------------------------------------------------------------------

    def current_app(self) -> App:
        """A snapshot: a reload mid-run does not change the config under a running job."""
        return self.app.with_config(self.config)

    def _guarded(self, work: Callable[[], Any]) -> None:
        with self._busy:
            self.idle.clear()
            try:
                if not self.stop.is_set():
                    work()
            finally:
                self.idle.set()

    def fire(self, key: str, fire_time: datetime | None = None, *, catch_up: bool = False) -> None:
        """Run group ``key`` for its latest fire time (the one the scheduler is firing now)."""

        def work() -> None:
            app = self.current_app()
            # Membership as of now: web subscribers who joined, left or paused since the
            # jobs were installed are taken into account.
            group = {g.key: g for g in self._groups(app)}.get(key)
            if group is None:  # removed by a reload, or its last subscriber left
                return
            when = fire_time or latest_fire(group.trigger(), app.now(), self.config.catch_up)
            if when is None:
                event("run_skipped", schedule=key, reason="no fire time within catch_up")
                return
            self.last[key] = run_group(app, group, when, self.stop, catch_up=catch_up)

        self._guarded(work)

    def fetch(self, feed_names: tuple[str, ...]) -> None:
        def work() -> None:
            app = self.current_app()
            wanted = [f for f in app.config.feeds if f.name in feed_names]
            fetch_some(app, wanted, self.stop)

        self._guarded(work)

    def drain(self) -> None:
        self._guarded(lambda: drain_outbox(self.current_app(), self.stop))

    def clean_archive(self) -> None:
        self._guarded(lambda: clean_archive(self.current_app(), self.stop))

    def read_bounces(self) -> None:
        self._guarded(lambda: bounce_job(self.current_app(), self.stop))

    def install_jobs(self) -> None:
        """(Re)create every job from ``self.config``; jobs no longer configured are removed."""
        cfg = self.config
        grace = max(1, int(cfg.catch_up.total_seconds()))
        options: dict[str, Any] = {
            "replace_existing": True,
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": grace,
        }
        wanted = self._install_groups(self._groups(self.current_app()))
        for every, feeds in fetch_groups(cfg).items():
            job_id = f"fetch:{int(every.total_seconds())}s"
            self.scheduler.add_job(
                self.fetch,
                IntervalTrigger(seconds=int(every.total_seconds()), timezone=UTC),
                args=(tuple(f.name for f in feeds),),
                id=job_id,
                name=f"fetch every {every}",
                **{**options, "misfire_grace_time": int(every.total_seconds())},
            )
            wanted.add(job_id)
        self.scheduler.add_job(
            self.watch_subscribers,
            IntervalTrigger(seconds=int(WATCH_SUBSCRIBERS.total_seconds()), timezone=UTC),
            id="subscribers",
            name="web subscribers' schedules",
            **{**options, "misfire_grace_time": int(WATCH_SUBSCRIBERS.total_seconds())},
        )
        wanted.add("subscribers")
        self.scheduler.add_job(
            self.drain,
            IntervalTrigger(seconds=int(self.drain_every.total_seconds()), timezone=UTC),
            id="outbox",
            name="outbox retries",
            **{**options, "misfire_grace_time": int(self.drain_every.total_seconds())},
        )
        wanted.add("outbox")
        self.scheduler.add_job(
            self.clean_archive,
            IntervalTrigger(seconds=int(ARCHIVE_CLEANUP_EVERY.total_seconds()), timezone=UTC),
            id="archive",
            name="archive cleanup",
            **{**options, "misfire_grace_time": int(ARCHIVE_CLEANUP_EVERY.total_seconds())},
        )
        wanted.add("archive")
        if self.app.env.bounce_imap_url:
            self.scheduler.add_job(
                self.read_bounces,
                IntervalTrigger(seconds=int(POLL_EVERY.total_seconds()), timezone=UTC),
                id="bounces",
                name="bounce mailbox",
                **{**options, "misfire_grace_time": int(POLL_EVERY.total_seconds())},
            )
            wanted.add("bounces")
        for job in self.scheduler.get_jobs():
            if job.id not in wanted and not job.id.startswith("catch-up:"):
                job.remove()

    def _groups(self, app: App) -> list[Group]:
        return groups(app.config, roster(app.config, app.store, app.now()).receiving())

    def _install_groups(self, found: list[Group]) -> set[str]:
        """One cron job per group; jobs of groups that are gone are removed. Returns the
        digest jobs' ids."""
        grace = max(1, int(self.config.catch_up.total_seconds()))
        self.groups = {group.key: group for group in found}
        wanted = set()
        for group in self.groups.values():
            job = self.scheduler.get_job(group.job_id)
            if job is None or str(job.trigger) != str(group.trigger()):
                self.scheduler.add_job(
                    self.fire,
                    group.trigger(),
                    args=(group.key,),
                    id=group.job_id,
                    name=f"digest {group.key} ({group.cron})",
                    replace_existing=True,
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=grace,
                )
            wanted.add(group.job_id)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id not in wanted:
                job.remove()
        return wanted

    def watch_subscribers(self) -> None:
        """Web subscribers choose schedules and time zones the config never named: a group
        that gains its first member gets its job within a minute, without a restart."""
        try:
            found = self._groups(self.current_app())
        except Exception:
            event("subscribers_unreadable", logging.ERROR, exc_info=True)
            return
        if {g.key for g in found} != set(self.groups):
            added = sorted({g.key for g in found} - set(self.groups))
            removed = sorted(set(self.groups) - {g.key for g in found})
            self._install_groups(found)
            event("groups_changed", added=",".join(added), removed=",".join(removed))
        else:
            self.groups = {g.key: g for g in found}

    def catch_up(self) -> list[str]:
        """Queue one immediate run for each group whose latest fire was missed (within grace)."""
        now = self.app.now()
        runs = self.app.store.last_runs()
        queued = []
        for group in self.groups.values():
            fire = latest_fire(group.trigger(), now, self.config.catch_up)
            if fire is None:
                continue
            period = group.period(fire)
            last = runs.get(group.key)
            abandoned = (
                last is not None
                and last.status is RunStatus.COMPOSING
                and last.started_at <= now - STALE_RUN
            )
            if last is not None and last.period == period and not abandoned:
                continue  # sent (or being sent) already; the run key would refuse it anyway
            event("catch_up", schedule=group.key, period=period, fire_time=fire)
            self.scheduler.add_job(
                self.fire,
                DateTrigger(run_date=datetime.now(UTC), timezone=UTC),
                args=(group.key, fire),
                kwargs={"catch_up": True},
                id=f"catch-up:{group.key}",
                replace_existing=True,
                misfire_grace_time=max(1, int(self.config.catch_up.total_seconds())),
            )
            queued.append(group.key)
        return queued

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.install_jobs()
        self.scheduler.start()
        self.catch_up()
        event(
            "started",
            schedules=len(self.groups),
            feeds=len(self.config.feeds),
            jobs=",".join(sorted(job.id for job in self.scheduler.get_jobs())),
        )
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                event("next_run", job=job.id, at=job.next_run_time)

    def reload(self) -> bool:
        """Load and validate the config again; a config with problems leaves the old one running."""
        try:
            new = self.load_config()
        except ConfigError as exc:
            event(
                "reload_rejected",
                logging.ERROR,
                reason="invalid config, keeping the previous one",
                problems="; ".join(str(p) for p in exc.problems),
            )
            return False
        except Exception as exc:
            event("reload_failed", logging.ERROR, exc_info=True)
            event("reload_rejected", logging.ERROR, reason=f"{type(exc).__name__}: {exc}")
            return False
        if new.database_url != self.config.database_url:
            event(
                "reload_warning",
                logging.WARNING,
                reason="the database changes only on restart; still using the old one",
            )
        self.config = new
        self.install_jobs()
        if self.log_handler is not None:
            self.log_handler.setFormatter(logs.StructuredFormatter(new.log_format))
        event(
            "reloaded",
            schedules=len(self.groups),
            feeds=len(new.feeds),
            jobs=",".join(sorted(job.id for job in self.scheduler.get_jobs())),
        )
        return True

    def shutdown(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop taking work, let the job in flight finish its message; True if it did in time."""
        self.stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        return self.idle.wait(timeout)


def run_daemon(
    app: App,
    load_config: ConfigLoader,
    *,
    stop_timeout: float = STOP_TIMEOUT,
    hard_exit: bool = True,
) -> int:
    """Run until SIGTERM/SIGINT (exit 0 once the message in flight is recorded); SIGHUP reloads."""
    DigestRun(app, OutboxSink(app.store, app.store)).check()  # fail now, not at the first run
    if app.env.bounce_imap_url:
        mailbox_url(app.env)  # a bad BOUNCE_IMAP_URL stops the start too (exit 2)
    handler = logs.setup(app.config.log_format, level=logging.INFO)
    daemon = Daemon(app, load_config, log_handler=handler)
    asked: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only a list append: taking a lock here could deadlock with the main thread.
        asked.append(signal.Signals(signum).name)

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    try:
        daemon.start()
        while True:
            time.sleep(POLL)
            if not asked:
                continue
            names, asked[:] = list(asked), []
            if any(name in ("SIGTERM", "SIGINT") for name in names):
                signame = next(n for n in names if n in ("SIGTERM", "SIGINT"))
                event("stopping", signal=signame, busy=not daemon.idle.is_set())
                break
            if "SIGHUP" in names:
                event("reloading", signal="SIGHUP")
                daemon.reload()
        finished = daemon.shutdown(stop_timeout)
        if not finished:
            event(
                "stopped",
                logging.ERROR,
                clean=False,
                reason=f"the job in flight did not finish within {stop_timeout:g} s; "
                "its messages stay leased and are retried after the lease expires",
            )
            if hard_exit:  # the worker thread would otherwise hold the interpreter open
                sys.stderr.flush()
                os._exit(1)
            return 1
        event("stopped", clean=True)
        return 0
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
