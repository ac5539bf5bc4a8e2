"""`send --workers N`: several senders for one send, coordinated only through the database.

PostgreSQL: N processes. Worker *i* composes the subscribers whose address hashes to *i*
(``crc32(email) % N``) under a run of its own, then every worker drains the shared
outbox; ``claim`` takes rows with ``FOR UPDATE SKIP LOCKED`` and a lease, so each row
goes to exactly one worker. Partitioning only splits the work: the guard against two
processes (here, or another ``send`` on another machine) composing the same subscriber
is in :meth:`Store.enqueue` — a per-subscriber advisory lock and a re-check of what the
subscriber already has before the rows are written.

SQLite allows one writer at a time, so there ``--workers N`` keeps one process and
gives delivery N times the SMTP connections; it says so, and that several processes
need PostgreSQL.

The crash window: a worker killed after the SMTP server accepted a message but before
its row was marked ``sent`` leaves the row ``sending``; once the lease expires another
send delivers it again. That is at most one message per open SMTP connection of the
dead worker. Rows it had claimed but not sent wait for the lease and go out once.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection

from newsletter.clock import Clock
from newsletter.config import Config, Environment
from newsletter.deliver.smtp import SendResult, SmtpSettings
from newsletter.delivery import (
    SendOutcome,
    compose_into_outbox,
    deliver_outbox,
    send,
    smtp_settings,
)
from newsletter.pipeline import App, fetch
from newsletter.records import Subscriber
from newsletter.sources import FetchOutcome
from newsletter.store import OutboxRow, Store

MULTI_PROCESS_DIALECTS = ("postgresql",)
COMPOSE_CHUNK = 5_000
"""Subscribers a worker composes per run; bounds its memory whatever the list's length."""


def partition_of(email: str, count: int) -> int:
    """Which of ``count`` workers composes this address; the same in every process."""
    return zlib.crc32(email.lower().encode()) % count


def partition(subscribers: Sequence[Subscriber], index: int, count: int) -> list[Subscriber]:
    return [s for s in subscribers if partition_of(s.email, count) == index]


def peak_rss_kib() -> int:
    """This process's peak resident memory (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@dataclass(frozen=True)
class WorkerReport:
    index: int
    pid: int | None = None
    exitcode: int | None = None
    composed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    peak_rss_kib: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exitcode == 0 and self.error is None


@dataclass
class WorkersOutcome(SendOutcome):
    workers: list[WorkerReport] = field(default_factory=list)
    processes: int = 1

    @property
    def complete(self) -> bool:
        return self.deferred == 0 and self.failed == 0 and all(w.ok for w in self.workers)


@dataclass(frozen=True)
class WorkerJob:
    """Everything a spawned worker needs; all of it pickles."""

    config: Config
    env: Environment
    clock: Clock
    database_url: str
    index: int
    count: int
    period: str
    only: str | None
    retry_deferred: bool
    settings: SmtpSettings | None


def _worker_main(job: WorkerJob, results: Connection) -> None:
    """One worker process: compose its partition, then deliver until the outbox is empty."""
    report = WorkerReport(index=job.index)
    store = None
    try:
        store = Store.open(job.database_url)
        app = App(config=job.config, env=job.env, store=store, clock=job.clock)
        mine = partition(job.config.subscribers, job.index, job.count)
        composed = 0
        # Chunks bound memory: a worker holds one chunk's digests at a time, not its share.
        for part, start in enumerate(range(0, max(len(mine), 1), COMPOSE_CHUNK)):
            composed += compose_into_outbox(
                app,
                only=job.only,
                subscribers=mine[start : start + COMPOSE_CHUNK],
                period=f"{job.period} {job.index + 1}/{job.count} #{part + 1}",
            )
        outcome = deliver_outbox(app, settings=job.settings, retry_deferred=job.retry_deferred)
        report = replace(
            report,
            composed=composed,
            sent=outcome.sent,
            deferred=outcome.deferred,
            failed=outcome.failed,
            peak_rss_kib=peak_rss_kib(),
        )
        results.send((report, outcome.problems))
    except Exception as exc:  # reported by the parent, which knows how to print it
        results.send((replace(report, error=f"{type(exc).__name__}: {exc}"), []))
    finally:
        if store is not None:
            store.close()
        results.close()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def send_with_workers(
    app: App,
    workers: int,
    *,
    only: str | None = None,
    fetch_first: bool = True,
    retry_deferred: bool = False,
    progress: Callable[[FetchOutcome], None] | None = None,
    settings: SmtpSettings | None = None,
    say: Callable[[str], None] = _say,
    on_result: Callable[[OutboxRow, SendResult], None] | None = None,
) -> WorkersOutcome:
    """`send --workers N`: fetch once, then compose and deliver with N senders.

    ``on_result`` (progress) is called for the single-process path only."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    app.env.require_smtp()
    app.env.require_secret()
    dialect = app.store.engine.dialect.name
    if workers == 1 and settings is None:
        return _from(
            send(
                app,
                only=only,
                fetch_first=fetch_first,
                retry_deferred=retry_deferred,
                progress=progress,
                on_result=on_result,
            )
        )
    fetched = fetch(app, progress=progress) if fetch_first else []
    base = settings or smtp_settings(app)
    if workers == 1 or dialect not in MULTI_PROCESS_DIALECTS:
        if workers > 1:
            say(
                f"{dialect}: --workers {workers} runs {workers} senders "
                f"({workers * base.connections} SMTP connections) in this one process; "
                "several processes need PostgreSQL "
                "(NEWSLETTER_DATABASE_URL=postgresql+psycopg://…)."
            )
        composed = compose_into_outbox(app, only=only)
        wide = replace(base, connections=base.connections * workers)
        outcome = _from(deliver_outbox(app, settings=wide, retry_deferred=retry_deferred))
        outcome.fetched, outcome.composed = fetched, composed
        outcome.workers = [
            WorkerReport(
                index=0,
                exitcode=0,
                composed=composed,
                sent=outcome.sent,
                deferred=outcome.deferred,
                failed=outcome.failed,
                peak_rss_kib=peak_rss_kib(),
            )
        ]
        return outcome
    outcome = _run_processes(app, workers, only, retry_deferred, settings, say)
    outcome.fetched = fetched
    return outcome


def _from(plain: SendOutcome) -> WorkersOutcome:
    return WorkersOutcome(
        fetched=plain.fetched,
        composed=plain.composed,
        sent=plain.sent,
        deferred=plain.deferred,
        failed=plain.failed,
        problems=plain.problems,
        workers=[
            WorkerReport(
                index=0,
                exitcode=0,
                composed=plain.composed,
                sent=plain.sent,
                deferred=plain.deferred,
                failed=plain.failed,
                peak_rss_kib=peak_rss_kib(),
            )
        ],
    )


def _run_processes(
    app: App,
    count: int,
    only: str | None,
    retry_deferred: bool,
    settings: SmtpSettings | None,
    say: Callable[[str], None],
) -> WorkersOutcome:
    # spawn, not fork: a forked child would share the parent's pooled database sockets.
    context = multiprocessing.get_context("spawn")
    url = app.store.engine.url.render_as_string(hide_password=False)
    period = app.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    started = []
    for index in range(count):
        job = WorkerJob(
            config=app.config,
            env=app.env,
            clock=app.clock,
            database_url=url,
            index=index,
            count=count,
            period=period,
            only=only,
            retry_deferred=retry_deferred and index == 0,
            settings=settings,
        )
        receive, send_end = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_main, args=(job, send_end), name=f"newsletter-worker-{index + 1}"
        )
        process.start()
        send_end.close()  # so recv() ends with EOFError when the child dies
        started.append((process, receive))
    outcome = WorkersOutcome(processes=count)
    for process, receive in started:
        index = len(outcome.workers)
        try:
            report, problems = receive.recv()
        except EOFError:
            report, problems = WorkerReport(index=index), []
        process.join()
        report = replace(report, pid=process.pid, exitcode=process.exitcode)
        outcome.workers.append(report)
        outcome.composed += report.composed
        outcome.sent += report.sent
        outcome.deferred += report.deferred
        outcome.failed += report.failed
        outcome.problems.extend(problems)
        if report.error:
            say(f"worker {index + 1}/{count} failed: {report.error}")
        elif report.exitcode != 0:
            how = (
                f"was killed by signal {-report.exitcode}"
                if report.exitcode is not None and report.exitcode < 0
                else f"exited with status {report.exitcode}"
            )
            say(
                f"worker {index + 1}/{count} (pid {process.pid}) {how}; the messages it had "
                "claimed go out on a later send once their lease expires."
            )
    return outcome
