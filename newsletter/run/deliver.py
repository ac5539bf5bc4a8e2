"""The deliver phase: claim due outbox rows, hand them to the relay, record each answer.

Each answer is recorded as soon as the relay gives it, before that connection takes the
next message: a crash can leave at most one accepted-but-unrecorded message per SMTP
connection (the one duplicate window). A stop request lets the messages in flight finish
and puts the rest of the claimed rows back to ``pending`` at once.

What an answer does beyond its own row:

- a ``5.1.x`` refusal (no such mailbox or domain) suppresses the address at once;
- a message refused for good, or given up on, counts toward the address's soft bounces —
  but only once the relay has shown it takes mail (the next message it accepts, or the
  end of the phase), because
- a relay that refuses ``max_consecutive_errors`` messages in a row, refuses the login or
  cannot be reached pauses the phase (:mod:`newsletter.run.pause`): the claimed rows and
  the ones refused in that streak (5.1.x refusals aside: those concern their address) go
  back to ``pending`` without spending an attempt, and :attr:`Deliverer.paused` says why.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Protocol

from newsletter.clock import Clock
from newsletter.deliver import SendResult, SmtpSender, SmtpSettings, backoff, send_many
from newsletter.deliver.replies import reply_status
from newsletter.deliver.verp import envelope_sender
from newsletter.records import (
    Message,
    OutboxFailure,
    OutboxStatus,
    SendFailure,
    SuppressionReason,
)
from newsletter.run.bounces import Bounces
from newsletter.run.pause import UNREACHABLE_IN_A_ROW
from newsletter.run.tally import Tally
from newsletter.store.protocols import OutboxStore, SuppressionStore
from newsletter.store.records import OutboxRow

LEASE = timedelta(minutes=10)
"""How long a claimed row stays ours; a sender that died releases its rows when this expires."""
GIVE_UP_AFTER = timedelta(days=3)
BATCH = 200
WAIT_FOR_BATCH = 0.5
"""Seconds an idle sender waits for the composer's next batch before looking again."""
HOST = socket.gethostname()
RELAY_TROUBLE = (SendFailure.REFUSED, SendFailure.UNREACHABLE, SendFailure.AUTH)
"""Answers that may be the relay's doing rather than the message's: they make a streak."""

ResultHook = Callable[[OutboxRow, SendResult], None]


class Flag(Protocol):
    """A flag shared with the composer: a ``threading.Event``, or a ``multiprocessing``
    one when delivery runs in a process of its own."""

    def is_set(self) -> bool: ...
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


def lease_owner() -> str:
    """Written with each lease, so a re-run on this host can tell a dead sender's rows."""
    return f"{HOST}:{os.getpid()}"  # at call time: a forked worker has its own pid


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def no_such_address(result: SendResult) -> bool:
    """A permanent refusal with a 5.1.x code: the address is dead, not the message."""
    if result.status is not OutboxStatus.FAILED or result.failure is not SendFailure.REFUSED:
        return False
    status = reply_status(result.reply)
    return status is not None and status.no_such_address


class _Stop(Exception):
    """Raised from a result callback once a stop was asked: no new message is started."""


class _Pause(Exception):
    """Raised from a result callback once the relay is judged to refuse everything."""


@dataclass(frozen=True, slots=True)
class _Answer:
    """One relay answer as recorded on its row."""

    row: OutboxRow
    result: SendResult
    status: OutboxStatus
    failure: OutboxFailure | None


class _Streak:
    """Relay refusals in a row since it last took a message, and the answers they hold back."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.unreachable = 0
        self.held: list[_Answer] = []

    def took(self) -> list[_Answer]:
        """The relay accepted a message (or the phase ended): the streak is over."""
        held, self.held = self.held, []
        self.count = self.unreachable = 0
        return held

    def refused(self, answer: _Answer | None, result: SendResult) -> str | None:
        """Count one refusal (``answer`` None: counted, never given back); the reason to
        pause, if this one makes it a pause."""
        self.count += 1
        if answer is not None:
            self.held.append(answer)
        self.unreachable = self.unreachable + 1 if result.failure is SendFailure.UNREACHABLE else 0
        if result.failure is SendFailure.AUTH:
            return f"the relay refused the login: {result.reply}"
        if self.unreachable >= UNREACHABLE_IN_A_ROW:
            return f"the relay cannot be reached: {result.reply}"
        if self.count >= self.limit:
            return f"the relay refused {self.count} messages in a row: {result.reply}"
        return None


if TYPE_CHECKING:
    from newsletter.config import Config


class DeliveryStore(OutboxStore, SuppressionStore, Protocol):
    """What delivery writes: outbox rows, and suppressions for refused addresses."""


NO_RUN = -1
"""A run id no row has: while the composing run has not claimed its key, claim nothing."""


class Deliverer:
    """Drains the outbox through one pooled SMTP sender."""

    def __init__(
        self,
        outbox: OutboxStore,
        settings: SmtpSettings,
        *,
        envelope_from: str,
        clock: Clock,
        stop: threading.Event,
        bounces: Bounces,
        bounce_address: str | None = None,
        max_consecutive_errors: int = 20,
        on_result: ResultHook | None = None,
        schedule: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.schedule = schedule
        """Only rows of this schedule's runs (None: every due row)."""
        self.settings = settings
        self.envelope_from = envelope_from
        self.bounce_address = bounce_address
        self.clock = clock
        self.stop = stop
        self.bounces = bounces
        self.on_result = on_result
        self.rng = random.Random()
        self.paused: str | None = None
        """Why the phase paused (the relay's last answer), None when it did not."""
        self._streak = _Streak(max_consecutive_errors)
        self._lock = threading.Lock()

    @classmethod
    def for_config(
        cls,
        store: DeliveryStore,
        smtp: SmtpSettings,
        config: Config,
        *,
        clock: Clock,
        stop: threading.Event,
        on_result: ResultHook | None = None,
        schedule: str | None = None,
    ) -> Deliverer:
        """The deliverer a run of this config uses: its sender, bounce address and limit."""
        return cls(
            store,
            smtp,
            envelope_from=parseaddr(config.sender)[1],
            clock=clock,
            stop=stop,
            bounces=Bounces(store, store, clock),
            bounce_address=config.bounce_address,
            max_consecutive_errors=config.delivery.max_consecutive_errors,
            on_result=on_result,
            schedule=schedule,
        )

    def deliver(
        self,
        tally: Tally,
        *,
        retry_deferred: bool = False,
        composing: Flag | None = None,
        written: Flag | None = None,
        own_run: Callable[[], int | None] | None = None,
    ) -> bool:
        """Send every due row, counting into ``tally``; True when a stop or a pause ended it
        early (:attr:`paused` tells a pause).

        While ``composing`` is set, the outbox is still being filled (by the same run, in
        another thread): an empty claim then waits for ``written`` (set after each batch)
        instead of ending, so sending overlaps composing. Meanwhile only the composing run's
        rows (``own_run``) are claimed: rows of earlier runs — deferred ones coming due,
        which may expire and free their papers — wait until composing is over, so what
        the composer sees as already queued does not change under it."""
        if retry_deferred:
            self.outbox.make_deferred_due(self.clock())
        self.outbox.release_dead_leases(self.clock(), HOST, process_alive)
        try:
            with SmtpSender(self.settings) as sender:
                while not self.stop.is_set():
                    # Read before claiming: a batch written after an empty claim is still
                    # claimed by the next round, whichever way the race goes.
                    more_coming = composing is not None and composing.is_set()
                    run_id = None
                    if more_coming:
                        run_id = (own_run() if own_run is not None else None) or NO_RUN
                    rows = self.outbox.claim(
                        self.clock(),
                        LEASE,
                        limit=max(BATCH, self.settings.connections * 20),
                        owner=lease_owner(),
                        schedule=self.schedule,
                        run_id=run_id,
                    )
                    if not rows:
                        if not more_coming or written is None:
                            return False
                        written.wait(WAIT_FOR_BATCH)
                        written.clear()
                        continue
                    if self._send_batch(sender, rows, tally):
                        return True
                return True
        finally:
            if self.paused is None:
                with self._lock:
                    held = self._streak.took()
                self._settle(held, tally)

    def envelope(self, row: OutboxRow) -> str:
        """``bounce_address`` with the row's return token (VERP), else the plain sender."""
        if self.bounce_address and row.token:
            return envelope_sender(self.bounce_address, row.token)
        return self.envelope_from

    def _send_batch(self, sender: SmtpSender, rows: list[OutboxRow], tally: Tally) -> bool:
        by_id = {row.message_id: row for row in rows}
        answered: set[int] = set()

        def record(message: Message, result: SendResult) -> None:
            answer = self._record(by_id[message.message_id], result)
            with self._lock:
                answered.add(answer.row.id)
            reason = self._consequences(answer, tally)
            with self._lock:
                if reason is not None and self.paused is None:
                    self.paused = reason
                pausing = self.paused is not None
            if pausing:
                raise _Pause
            if self.stop.is_set():
                raise _Stop

        messages = (
            Message(
                recipient=row.subscriber,
                sender=self.envelope(row),
                message_id=row.message_id,
                subject=row.subject,
                data=row.data,
                html="",
                text="",
            )
            for row in rows
        )
        try:
            send_many(sender, messages, record)
        except (_Stop, _Pause):
            with self._lock:
                unsent = [row.id for row in rows if row.id not in answered]
                refused = self._streak.took() if self.paused is not None else []
            self.outbox.release(unsent)
            self.outbox.restore([answer.row.id for answer in refused])
            return True
        return False

    def _record(self, row: OutboxRow, result: SendResult) -> _Answer:
        """Mark the row with the relay's answer, durably, before anything else happens."""
        now = self.clock()
        status = result.status
        failure: OutboxFailure | None = None
        next_attempt = None
        if status is OutboxStatus.DEFERRED:
            if now - row.created_at > GIVE_UP_AFTER:
                status, failure = OutboxStatus.FAILED, OutboxFailure.EXPIRED
            else:
                next_attempt = now + backoff(row.attempts, self.rng)
        elif status is OutboxStatus.FAILED:
            invalid = result.failure is SendFailure.INVALID
            failure = OutboxFailure.INTERNAL if invalid else OutboxFailure.REFUSED
        self.outbox.mark(
            row.id,
            status,
            now=now,
            reply=result.reply,
            next_attempt=next_attempt,
            failure=failure,
        )
        return _Answer(row, result, status, failure)

    def _consequences(self, answer: _Answer, tally: Tally) -> str | None:
        """Count the answer, suppress a dead address, keep the streak; the reason to pause."""
        result = answer.result
        if answer.status is OutboxStatus.SENT:
            with self._lock:
                held = self._streak.took() if self.paused is None else []
            self._settle([answer, *held], tally)
            return None
        hard = no_such_address(result)
        if hard:
            self.bounces.suppress(
                answer.row.subscriber, SuppressionReason.BOUNCE_HARD, result.reply
            )
            self._settle([answer], tally, soft=False)
        if result.failure in RELAY_TROUBLE:
            with self._lock:
                return self._streak.refused(None if hard else answer, result)
        if not hard:
            self._settle([answer], tally)
        return None

    def _settle(self, answers: Sequence[_Answer], tally: Tally, *, soft: bool = True) -> None:
        """The answers stand: count them, and count failed ones as soft bounces."""
        for answer in answers:
            row, result = answer.row, answer.result
            tally.count(answer.status, row.subscriber, result.reply)
            if soft and answer.failure in (OutboxFailure.REFUSED, OutboxFailure.EXPIRED):
                self.bounces.soft_bounced(row.subscriber, result.reply)
            if self.on_result is not None:
                self.on_result(row, result)
