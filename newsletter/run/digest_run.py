"""One digest run: fetch → plan → render → enqueue → deliver, for one (schedule, period).

Every command that makes digests drives this one object — ``send``, ``send --workers N``
(each worker with its partition), ``send --dry-run`` and ``preview`` (a file sink, no
relay), ``match --subscriber`` (the plan only) and the daemon (one schedule's group, with
its stop token). They differ only in what they hand it.

The run owns the tally, the stop token and the preconditions, which are checked once,
before anything is claimed or composed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from newsletter import logs
from newsletter.app import App
from newsletter.config import ConfigError, Problem
from newsletter.deliver import SmtpSettings
from newsletter.records import OutboxStatus, RunStatus, Subscriber
from newsletter.render import TemplateError
from newsletter.render.errors import parts
from newsletter.run.archive import expire_archive
from newsletter.run.audience import Audience
from newsletter.run.deliver import Deliverer, Flag, ResultHook
from newsletter.run.delivery_process import (
    DELIVERY_PROCESS_MIN,
    compose_beside_delivery_process,
    crosses_processes,
    shareable,
)
from newsletter.run.feeds import fetch_and_store
from newsletter.run.garbage import fewer_collections
from newsletter.run.messages import DRY_RUN_SECRET, MessageMaker, Signer, dkim_signer
from newsletter.run.pause import next_pause
from newsletter.run.plan import Planned, Planner
from newsletter.run.sinks import Made, Sink
from newsletter.run.tally import RunResult
from newsletter.sources import FetchOutcome
from newsletter.subscriptions import roster

event = logs.events(__name__)

BATCH = 200
"""Digests rendered and written per transaction; bounds memory per run."""
TAIL_BATCH = 40
"""The batch size for a run's last ~200 digests: delivery waits for each batch to be
written, so smaller last batches let it start on them sooner and end sooner after
composing does (a handful more transactions)."""

FetchHook = Callable[[FetchOutcome], None]


def manual_period(app: App) -> str:
    """A manual send's own key: every ``send`` is a run of its own."""
    return app.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RunOptions:
    """What a command hands the run besides the app."""

    schedule: str = "manual"
    period: str | None = None
    """None: a manual run with a key of its own."""
    audience: Audience = field(default_factory=Audience)
    fetch: bool = True
    deliver: bool = True
    """Deliver the outbox after composing (``send``, the daemon); a file sink never does."""
    retry_deferred: bool = False
    wait_out_pause: bool = False
    """Deliver nothing while the relay's recorded pause lasts (the daemon); a command run
    by a person tries at once."""
    smtp: SmtpSettings | None = None
    """Overrides the relay from the environment (``--workers`` on SQLite widens the pool)."""
    delivery_process: bool | None = None
    """Deliver from a process of its own while composing (None: when the run has at least
    ``DELIVERY_PROCESS_MIN`` subscribers and the store can be shared between processes)."""
    on_fetch: FetchHook | None = None
    on_result: ResultHook | None = None


class DigestRun:
    def __init__(
        self,
        app: App,
        sink: Sink,
        options: RunOptions | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        self.app = app
        self.sink = sink
        self.options = options or RunOptions()
        self.stop = stop or threading.Event()
        self.result = RunResult()
        self.period = self.options.period or manual_period(app)
        self.secret: str = DRY_RUN_SECRET
        self.sign: Signer | None = None
        self.smtp: SmtpSettings | None = None
        self.checked = False
        self.maker: MessageMaker | None = None
        self._written: Flag | None = None
        self.on_open: Callable[[int], None] | None = None
        """Told the run's id once the run is claimed (the delivery process needs it)."""
        self._chosen: list[Subscriber] | None = None
        self.claimed = False
        self.duration: float | None = None

    # -- preconditions ---------------------------------------------------------------------

    def check(self) -> None:
        """Everything a setting can break, checked once before the run claims or composes."""
        env = self.app.env
        problems: list[Problem] = []
        if self.delivers:
            try:
                self.smtp = self.options.smtp or env.require_smtp()
            except ConfigError as exc:
                problems += exc.problems
        try:
            self.secret = env.require_secret() if self.sink.records else DRY_RUN_SECRET
        except ConfigError as exc:
            problems += exc.problems
        if not self.sink.records and env.secret:
            self.secret = env.secret
        if problems:
            raise ConfigError(problems)
        self.sign = dkim_signer(env)
        self.maker = self.message_maker()  # a template broken for everyone stops us here
        self.checked = True

    def message_maker(self) -> MessageMaker:
        return MessageMaker(
            self.app.config,
            secret=self.secret,
            run_key=self.run_key,
            now=self.app.now(),
            sign=self.sign,
            archive=self.sink.records,
        )

    @property
    def delivers(self) -> bool:
        return self.options.deliver and self.sink.records

    @property
    def run_key(self) -> str:
        return f"{self.options.schedule}:{self.period}" if self.sink.records else "dry-run"

    # -- phases ----------------------------------------------------------------------------

    def fetch(self) -> list[FetchOutcome]:
        """Fetch due feeds and store what is new (each feed's failure is its own)."""
        store = self.app.store
        outcomes = fetch_and_store(
            self.app.config, store, store, now=self.app.clock, progress=self.options.on_fetch
        )
        self.result.fetched = outcomes
        return outcomes

    def audience(self) -> list[Subscriber]:
        """The subscribers this run is for (read once per run)."""
        if self._chosen is None:
            store = self.app.store
            everyone = roster(self.app.config, store, self.app.now()).receiving()
            self._chosen = self.options.audience.select(everyone, store.suppressions().keys())
        return self._chosen

    def plan(self, done: set[str] | None = None) -> Iterator[Planned]:
        """Who gets what, one subscriber at a time (skipping ``done`` addresses)."""
        store = self.app.store
        chosen = self.audience()
        if done:
            chosen = [s for s in chosen if s.email.lower() not in done]
        planner = Planner(
            self.app.config,
            store,
            store,
            store.vector_cache(),
            self.app.now(),
            explain=not self.sink.records,
        )
        return planner.plan(chosen)

    def render(self, planned: Iterable[Planned]) -> Iterator[Made | Planned]:
        """Messages for the planned digests. A plan with nothing new comes back as it is; a
        plan that failed, or a digest that cannot be rendered, as a :class:`Planned` with
        its error."""
        maker = self.maker or self.message_maker()
        for plan in planned:
            if plan.error is not None or plan.composition is None:
                yield plan
                continue
            if plan.composition.digest is None:
                yield plan  # nothing new: no mail (a dry run says why)
                continue
            try:
                yield Made(maker.make(plan.composition.digest), plan.composition)
            except TemplateError as exc:  # broken for everyone on a branch the sample missed
                raise ConfigError([Problem(*parts(p)) for p in exc.problems]) from exc
            except Exception as exc:  # this subscriber's data; the others go on
                event(
                    "render_failed",
                    logging.ERROR,
                    exc_info=True,
                    subscriber=plan.subscriber.email,
                )
                yield Planned(plan.subscriber, plan.composition, f"{type(exc).__name__}: {exc}")

    def enqueue(self, made: Iterable[Made | Planned]) -> int:
        """Hand messages to the sink in batches; failures become the subscriber's failed row."""
        now = self.app.now()
        tally = self.result.tally
        batch: list[Made] = []
        remaining = len(self.audience())  # read once per run (plan() has read it)
        for item in made:
            remaining -= 1
            if isinstance(item, Planned):
                if item.error is None:
                    if item.composition is not None:
                        self.sink.nothing(item.composition)
                    continue
                reason = f"digest could not be made: {item.error}"
                self.sink.failed(item.subscriber.email, reason, now)
                tally.count(OutboxStatus.FAILED, item.subscriber.email, reason)
                continue
            batch.append(item)
            if len(batch) >= (BATCH if remaining >= BATCH else TAIL_BATCH):
                tally.composed += self.sink.write(batch, now)
                self._batch_written()
                batch = []
                if self.stop.is_set():
                    break
        tally.composed += self.sink.write(batch, now)
        self._batch_written()
        return tally.composed

    def _batch_written(self) -> None:
        if self._written is not None:
            self._written.set()

    def compose(self) -> bool:
        """Plan, render and enqueue under the run's claim; False when another process has it."""
        if not self.sink.open(self.options.schedule, self.period, self.app.now()):
            return False
        if self.on_open is not None:
            self.on_open(getattr(self.sink, "run_id", None) or 0)
        try:
            with fewer_collections():
                self.enqueue(self.render(self.plan(self.sink.done())))
        except ConfigError:
            # A template that fails for everyone: nothing of this run may go out half-made.
            self.sink.abandon(self.app.now())
            raise
        self.claimed = True
        status = RunStatus.INTERRUPTED if self.stop.is_set() else RunStatus.COMPOSED
        self.sink.settle(self.app.now(), status, self.result.tally.for_run_row())
        return True

    def deliver(
        self,
        *,
        composing: Flag | None = None,
        written: Flag | None = None,
        own_run: Callable[[], int | None] | None = None,
    ) -> bool:
        """Send what the outbox holds; True when a stop or a pause ended it early. With
        ``composing``/``written`` it runs beside :meth:`compose` (see
        :meth:`compose_and_deliver`)."""
        assert self.smtp is not None
        store, config = self.app.store, self.app.config
        pause = store.relay_pause()
        if self.options.wait_out_pause and pause is not None and pause.active(self.app.now()):
            self.result.paused = pause.reason
            return True
        deliverer = Deliverer.for_config(
            store,
            self.smtp,
            config,
            clock=self.app.clock,
            stop=self.stop,
            on_result=self.options.on_result,
        )
        stopped = deliverer.deliver(
            self.result.tally,
            retry_deferred=self.options.retry_deferred,
            composing=composing,
            written=written,
            own_run=own_run or (lambda: getattr(self.sink, "run_id", None)),
        )
        if deliverer.paused is not None:
            self._pause(deliverer.paused)
        elif pause is not None and store.clear_relay_pause(pause.paused_at):
            # Not paused again: the relay takes mail (or was given none to refuse).
            event("relay_resumed", paused_since=pause.since, pauses=pause.pauses)
        self.result.stopped = self.result.stopped or (stopped and deliverer.paused is None)
        return stopped

    def _pause(self, reason: str) -> None:
        """Record the pause where every process sees it, and say so once."""
        store = self.app.store
        pause = next_pause(store.relay_pause(), reason, self.app.now())
        store.save_relay_pause(pause)
        self.result.paused = reason
        event(
            "relay_paused",
            logging.WARNING,
            reason=reason,
            until=pause.until,
            pauses=pause.pauses,
            outbox="claimed messages are back to pending, no attempt spent",
        )

    # -- the whole run ---------------------------------------------------------------------

    def execute(self) -> RunResult:
        """Every phase in order, each skipped once a stop was asked."""
        started = time.monotonic()
        if not self.checked:
            self.check()
        if self.options.fetch and not self.stop.is_set():
            self.fetch()
        if self.delivers and not self.stop.is_set():
            self.compose_and_deliver()
        elif not self.stop.is_set():
            self.compose()
        if self.sink.records and not self.stop.is_set():
            self.expire_archive()
        self.finish(time.monotonic() - started)
        return self.result

    def expire_archive(self) -> int:
        """Remove archived copies past ``archive_days``; a failure here costs no digest."""
        try:
            return expire_archive(self.app)
        except Exception:
            event("archive_cleanup_failed", logging.ERROR, exc_info=True)
            return 0

    def delivers_from_a_process(self) -> bool:
        """Whether delivery gets a process of its own (see :mod:`.delivery_process`)."""
        wanted = self.options.delivery_process
        url = getattr(self.app.store, "url", None)  # a store not opened from a URL stays here
        if wanted is False or url is None or not shareable(url):
            return False
        if not crosses_processes(self.app.clock):
            return False
        return wanted is True or len(self.audience()) >= DELIVERY_PROCESS_MIN

    def compose_and_deliver(self) -> None:
        """Compose in this thread while another (or, for a large run, another process)
        delivers each batch as it is written: the relay's round trips overlap the
        rendering instead of following it."""
        if self.delivers_from_a_process():
            compose_beside_delivery_process(self)
            return
        composing, written = threading.Event(), threading.Event()
        composing.set()
        self._written = written
        failure: list[BaseException] = []

        def sender() -> None:
            try:
                self.deliver(composing=composing, written=written)
            except BaseException as exc:  # handed to the composing thread, which re-raises
                failure.append(exc)

        thread = threading.Thread(target=sender, name="deliver")
        thread.start()
        try:
            self.compose()
        finally:
            composing.clear()
            written.set()
            thread.join()
            self._written = None
        if failure:
            raise failure[0]

    def finish(self, duration: float | None = None) -> None:
        """Settle the result's status (and the run row's, when this run composed it)."""
        result = self.result
        if self.delivers:
            store = self.app.store
            result.waiting = store.outbox_counts().get(OutboxStatus.DEFERRED, 0)
            result.next_retry = store.next_retry() if result.waiting else None
        if self.stop.is_set() or result.stopped:
            result.status = RunStatus.INTERRUPTED
        elif not result.tally.complete or result.paused is not None:
            result.status = RunStatus.INCOMPLETE
        else:
            result.status = RunStatus.DONE
        self.duration = duration
        if self.claimed and self.delivers:
            tally = result.tally.for_run_row(None if duration is None else round(duration, 3))
            self.sink.settle(self.app.now(), result.status, tally)
