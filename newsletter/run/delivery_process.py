"""Delivery in a process of its own, beside the composer, for large runs.

Composing is pure Python and holds the GIL; so does the SMTP client. With both in one
process the relay's connections wait for the renderer and the renderer for them: on the
2,000-digest benchmark, delivery ended ~10 s after composing although the relay takes 300
messages a second. A second process gives delivery a core of its own.

Nothing about the outbox's guarantees changes: the delivery process claims rows under the
same lease (its own ``host:pid`` as owner), records every answer before the next message
and, while the composer works, claims only the composing run's rows. The two processes
share two flags (composing, a batch written) and the run's id; the delivery process sends
its tally back when it ends. A stop (SIGTERM/SIGINT) reaches both: the composer finishes
its batch, the delivery process the messages in flight.

Small runs keep delivery in a thread: starting a Python process costs ~0.3 s, more than
a few hundred digests gain. So do runs whose store or clock cannot be shared with another
process (an in-memory SQLite database, a clock that does not pickle), and each worker of
``send --workers N``, which is a process of its own already.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import threading
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as ProcessEvent
from typing import TYPE_CHECKING

from newsletter import logs
from newsletter.app import App
from newsletter.clock import Clock
from newsletter.config import Config, Environment
from newsletter.deliver import SmtpSettings
from newsletter.errors import OperationalError, Problem
from newsletter.run.stopping import passed_on_to, stop_on_signals
from newsletter.run.tally import Tally, Trouble

if TYPE_CHECKING:
    from newsletter.run.digest_run import DigestRun, RunOptions

event = logs.events(__name__)

DELIVERY_PROCESS_MIN = 500
"""Subscribers from which a run delivers from a process of its own (when the store can be
shared between processes: not an in-memory SQLite database)."""


def crosses_processes(clock: Clock) -> bool:
    """Whether the run's clock can be handed to another process (a lambda cannot)."""
    try:
        pickle.dumps(clock)
    except Exception:
        return False
    return True


def shareable(url: str) -> bool:
    """Whether another process opening ``url`` sees the same database."""
    if not url.startswith("sqlite"):
        return True
    database = url.partition("://")[2].lstrip("/")
    return database not in ("", ":memory:") and "mode=memory" not in url


@dataclass(frozen=True)
class DeliveryJob:
    """What the delivery process needs; all of it pickles."""

    config: Config
    env: Environment
    clock: Clock
    database_url: str
    options: RunOptions
    smtp: SmtpSettings
    log_level: int


@dataclass(frozen=True)
class DeliveryOutcome:
    """What the delivery process did, sent back to the composer when it ends."""

    sent: int
    deferred: int
    failed: int
    troubles: list[Trouble]
    paused: str | None
    stopped: bool
    peak_rss_kib: int
    error: BaseException | None = None


class DeliveryProcessError(OperationalError):
    """The delivery process died without reporting (killed, out of memory): exit status 1,
    and nothing lost — the rows it had claimed carry its ``host:pid`` and the next send on
    this host delivers them."""

    def __init__(self, exitcode: int | None, *, not_started: str | None = None) -> None:
        what = (
            f"the delivery process could not start ({not_started})"
            if not_started is not None
            else f"the delivery process ended without reporting (exit code {exitcode})"
        )
        super().__init__(
            [
                Problem(
                    "delivery",
                    None,
                    f"{what} — run send again: it delivers what that process had claimed",
                )
            ]
        )


def _delivery_main(
    job: DeliveryJob,
    run_id: Synchronized[int],
    composing: ProcessEvent,
    written: ProcessEvent,
    results: Connection,
) -> None:
    from newsletter.run.digest_run import DigestRun
    from newsletter.run.sinks import OutboxSink
    from newsletter.run.workers import peak_rss_kib
    from newsletter.store import Store

    logs.setup(job.config.log_format, level=job.log_level)
    stop = threading.Event()
    _stop_when_orphaned(stop, written)
    run: DigestRun | None = None
    error: BaseException | None = None
    store = None
    try:
        store = Store.open(job.database_url)
        app = App(config=job.config, env=job.env, store=store, clock=job.clock)
        run = DigestRun(app, OutboxSink(store, store), job.options, stop=stop)
        run.smtp = job.smtp
        with stop_on_signals(stop):
            run.deliver(
                composing=composing,
                written=written,
                own_run=lambda: run_id.value or None,
            )
    except BaseException as exc:  # handed to the composer, which raises it
        event("delivery_process_failed", logging.ERROR, exc_info=True)
        error = exc
    finally:
        if store is not None:
            store.close()
    result = run.result if run is not None else None
    tally = result.tally if result is not None else Tally()
    outcome = DeliveryOutcome(
        sent=tally.sent,
        deferred=tally.deferred,
        failed=tally.failed,
        troubles=list(tally.troubles),
        paused=result.paused if result is not None else None,
        stopped=result.stopped if result is not None else False,
        peak_rss_kib=peak_rss_kib(),
        error=error,
    )
    try:
        results.send(outcome)
    except Exception:  # an exception that does not pickle: its text still gets through
        results.send(replace(outcome, error=RuntimeError(f"{type(error).__name__}: {error}")))
    results.close()


def _stop_when_orphaned(stop: threading.Event, wake: ProcessEvent) -> None:
    """Stop (finish the messages in flight, release the rest) once the composer is gone.

    A composer killed outright (SIGKILL, out of memory) never clears the composing flag:
    without this, its delivery process would wait for batches forever, holding its
    leases' owner alive. The next ``send`` delivers what it released."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent process has ended
        if not stop.is_set():
            event("delivery_orphaned", logging.WARNING, action="stopping")
        stop.set()
        wake.set()

    threading.Thread(target=watch, name="watch-composer", daemon=True).start()


class _Starter:
    """``process.start()`` in a thread of its own; its error, if any, kept for the caller."""

    def __init__(self, process: BaseProcess) -> None:
        self.error: BaseException | None = None
        self._process = process
        self._thread = threading.Thread(target=self._start, name="start-delivery", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._process.start()
        except BaseException as error:  # raised in the composer's thread after composing
            self.error = error

    def join(self) -> None:
        self._thread.join()


def compose_beside_delivery_process(run: DigestRun) -> None:
    """Compose in this process while a spawned process delivers each batch as it is
    written; the delivery process's tally, pause and stop are merged into ``run.result``."""
    assert run.smtp is not None
    app = run.app
    context = multiprocessing.get_context("spawn")  # fork would share pooled sockets
    run_id: Synchronized[int] = context.Value("q", 0)  # type: ignore[assignment]
    composing, written = context.Event(), context.Event()
    composing.set()
    job = DeliveryJob(
        config=app.config,
        env=app.env,
        clock=app.clock,
        database_url=app.store.url,  # type: ignore[attr-defined]
        options=replace(run.options, on_fetch=None, on_result=None, fetch=False),
        smtp=run.smtp,
        log_level=logging.getLogger().level,
    )
    receive, send_end = context.Pipe(duplex=False)
    process = context.Process(
        target=_delivery_main,
        args=(job, run_id, composing, written, send_end),
        name="newsletter-delivery",
    )
    # Starting blocks until the new interpreter has read the job (~0.5 s of imports and
    # unpickling the configuration): the composer starts on the first batch meanwhile.
    starter = _Starter(process)
    run.on_open = lambda opened: setattr(run_id, "value", opened)
    run._written = written
    # SIGTERM on a stop: the messages in flight finish, the claimed rest goes back.
    with passed_on_to(run.stop, [process], "stop-delivery"):
        try:
            run.compose()
        finally:
            composing.clear()
            written.set()
            run._written = None
            run.on_open = None
            starter.join()
            send_end.close()  # so recv() ends with EOFError when the child dies
            outcome: DeliveryOutcome | None = None
            if starter.error is None:
                with contextlib.suppress(EOFError):  # it died: outcome stays None
                    outcome = receive.recv()
                process.join()
    if starter.error is not None:
        error = starter.error
        raise DeliveryProcessError(None, not_started=f"{type(error).__name__}: {error}") from error
    if outcome is None:
        raise DeliveryProcessError(process.exitcode)
    result = run.result
    result.tally.add(
        Tally(0, outcome.sent, outcome.deferred, outcome.failed, list(outcome.troubles))
    )
    result.paused = result.paused or outcome.paused
    result.stopped = result.stopped or outcome.stopped
    result.processes = 2
    result.delivery_peak_rss_kib = outcome.peak_rss_kib
    if outcome.error is not None:
        raise outcome.error
