"""`send --workers N`: several senders for one send, coordinated only through the database.

PostgreSQL: N processes. The parent checks the settings and fetches once; worker *i* then
drives a :class:`DigestRun` over the subscribers whose address hashes to *i*
(``crc32(email) % N``) under a run key of its own, and every worker drains the shared
outbox: ``claim`` takes rows with ``FOR UPDATE SKIP LOCKED`` and a lease, so each row goes
to exactly one worker. Partitioning only splits the work: the guard against two processes
(here, or another ``send`` on another machine) composing the same subscriber is in the
outbox — a per-subscriber advisory lock and a re-check of what the subscriber already has
before the rows are written.

SQLite allows one writer at a time, so there ``--workers N`` keeps one process and gives
delivery N times the SMTP connections; the result says so.

The crash window: a worker killed after the relay accepted a message but before its row
was marked ``sent`` leaves the row ``sending``; once the lease expires another send
delivers it again. That is at most one message per open SMTP connection of the dead
worker. Rows it had claimed but not sent wait for the lease and go out once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import threading
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

from newsletter import logs
from newsletter.app import App
from newsletter.clock import Clock
from newsletter.config import Config, Environment
from newsletter.run.digest_run import DigestRun, RunOptions
from newsletter.run.sinks import OutboxSink
from newsletter.run.stopping import passed_on_to, stop_on_signals
from newsletter.run.tally import RunResult, Tally, WorkerReport
from newsletter.store import Store

event = logs.events(__name__)

MULTI_PROCESS_DIALECTS = ("postgresql",)


def usable_cores() -> int:
    """CPU cores this process may run on (a container or ``taskset`` can allow fewer than
    the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def peak_rss_kib() -> int:
    """This process's peak resident memory (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


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
    options: RunOptions


def _worker_main(job: WorkerJob, results: Connection) -> None:
    """One worker process: compose its partition, then deliver until the outbox is empty."""
    logs.setup(job.config.log_format, level=logging.WARNING)
    store = None
    tally = Tally()
    error = None
    paused = None
    stop = threading.Event()
    try:
        store = Store.open(job.database_url)
        app = App(config=job.config, env=job.env, store=store, clock=job.clock)
        options = replace(
            job.options,
            period=f"{job.period} {job.index + 1}/{job.count}",
            audience=replace(job.options.audience, partition=(job.index, job.count)),
            fetch=False,
            delivery_process=False,  # N workers already have N processes
            retry_deferred=job.options.retry_deferred and job.index == 0,
            on_fetch=None,
            on_result=None,
        )
        run = DigestRun(app, OutboxSink(store, store), options, stop=stop)
        with stop_on_signals(stop):  # the parent passes SIGTERM on: finish, release the rest
            result = run.execute()
        tally, paused = result.tally, result.paused
    except Exception as exc:  # the traceback goes to the log; the parent gets the gist
        event("worker_failed", logging.ERROR, exc_info=True, worker=job.index + 1)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if store is not None:
            store.close()
    results.send((tally.for_run_row(), tally.troubles, peak_rss_kib(), error, paused))
    results.close()


def send_with_workers(
    app: App,
    workers: int,
    options: RunOptions | None = None,
    *,
    stop: threading.Event | None = None,
) -> RunResult:
    """`send --workers N`: check and fetch once, then compose and deliver with N senders.

    ``stop`` (set by SIGTERM/SIGINT) ends the send early and cleanly, in every worker."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    options = options or RunOptions()
    run = DigestRun(app, OutboxSink(app.store, app.store), options, stop=stop)
    run.check()
    dialect = app.store.engine.dialect.name  # type: ignore[attr-defined]
    if workers == 1 or dialect not in MULTI_PROCESS_DIALECTS:
        if workers > 1:
            assert run.smtp is not None
            run.smtp = replace(run.smtp, connections=run.smtp.connections * workers)
            run.result.notes.append(
                f"{dialect}: --workers {workers} runs {workers} senders "
                f"({run.smtp.connections} SMTP connections) in this one process; "
                "several processes need PostgreSQL "
                "(NEWSLETTER_DATABASE_URL=postgresql+psycopg://…)."
            )
        result = run.execute()
        result.workers = [
            WorkerReport(0, None, 0, result.tally.for_run_row(), peak_rss_kib=peak_rss_kib())
        ]
        return result
    if options.fetch:
        run.fetch()
    result = _run_processes(app, workers, run)
    cores = usable_cores()
    if workers > cores:
        result.notes.append(
            f"--workers {workers} on {cores} CPU core(s): a worker helps only with a core "
            "of its own; here one worker (composing in one process, delivering from "
            "another) is likely faster (see Scaling in the README)."
        )
    run.result = result
    run.finish()
    return result


def _run_processes(app: App, count: int, run: DigestRun) -> RunResult:
    # spawn, not fork: a forked child would share the parent's pooled database sockets.
    context = multiprocessing.get_context("spawn")
    started = []
    for index in range(count):
        job = WorkerJob(
            config=app.config,
            env=app.env,
            clock=app.clock,
            database_url=app.store.url,  # type: ignore[attr-defined]
            index=index,
            count=count,
            period=run.period,
            options=replace(run.options, smtp=run.smtp),
        )
        receive, send_end = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_main, args=(job, send_end), name=f"newsletter-worker-{index + 1}"
        )
        process.start()
        send_end.close()  # so recv() ends with EOFError when the child dies
        started.append((process, receive))
    result = RunResult(fetched=run.result.fetched, processes=count)
    # SIGTERM on a stop: each worker finishes its message and releases the rest.
    with passed_on_to(run.stop, [process for process, _ in started], "stop-workers"):
        for index, (process, receive) in enumerate(started):
            try:
                row, troubles, rss, error, paused = receive.recv()
            except EOFError:
                row, troubles, rss, error, paused = Tally().for_run_row(), [], 0, None, None
            process.join()
            report = WorkerReport(index, process.pid, process.exitcode, row, rss, error, paused)
            result.workers.append(report)
            part = Tally(row.composed, row.sent, row.deferred, row.failed, list(troubles))
            result.tally.add(part)
            result.paused = result.paused or paused
    result.stopped = run.stop.is_set()
    return result
