"""The deliver phase: claim due outbox rows, hand them to the relay, record each answer.

Each answer is recorded as soon as the relay gives it, before that connection takes the
next message: a crash can leave at most one accepted-but-unrecorded message per SMTP
connection (the one duplicate window). A stop request lets the messages in flight finish
and puts the rest of the claimed rows back to ``pending`` at once.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from newsletter.clock import Clock
from newsletter.deliver import SendResult, SmtpSender, SmtpSettings, backoff, send_many
from newsletter.records import Message, OutboxStatus
from newsletter.run.tally import Tally
from newsletter.store.protocols import OutboxStore
from newsletter.store.records import OutboxRow

LEASE = timedelta(minutes=10)
"""How long a claimed row stays ours; a sender that died releases its rows when this expires."""
GIVE_UP_AFTER = timedelta(days=3)
BATCH = 200
HOST = socket.gethostname()

ResultHook = Callable[[OutboxRow, SendResult], None]


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


class _Stop(Exception):
    """Raised from a result callback once a stop was asked: no new message is started."""


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
        on_result: ResultHook | None = None,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.envelope_from = envelope_from
        self.clock = clock
        self.stop = stop
        self.on_result = on_result
        self.rng = random.Random()

    def deliver(self, tally: Tally, *, retry_deferred: bool = False) -> bool:
        """Send every due row, counting into ``tally``; True when a stop ended it early."""
        if retry_deferred:
            self.outbox.make_deferred_due(self.clock())
        self.outbox.release_dead_leases(self.clock(), HOST, process_alive)
        with SmtpSender(self.settings) as sender:
            while not self.stop.is_set():
                rows = self.outbox.claim(
                    self.clock(),
                    LEASE,
                    limit=max(BATCH, self.settings.connections * 20),
                    owner=lease_owner(),
                )
                if not rows:
                    return False
                if self._send_batch(sender, rows, tally):
                    return True
        return True

    def _send_batch(self, sender: SmtpSender, rows: list[OutboxRow], tally: Tally) -> bool:
        by_id = {row.message_id: row for row in rows}
        answered: set[int] = set()
        lock = threading.Lock()

        def record(message: Message, result: SendResult) -> None:
            row = by_id[message.message_id]
            now = self.clock()
            status = result.status
            next_attempt = None
            if status is OutboxStatus.DEFERRED:
                if now - row.created_at > GIVE_UP_AFTER:
                    status = OutboxStatus.FAILED
                else:
                    next_attempt = now + backoff(row.attempts, self.rng)
            self.outbox.mark(row.id, status, now=now, reply=result.reply, next_attempt=next_attempt)
            with lock:
                answered.add(row.id)
            tally.count(status, row.subscriber, result.reply)
            if self.on_result is not None:
                self.on_result(row, result)
            if self.stop.is_set():
                raise _Stop

        messages = (
            Message(
                recipient=row.subscriber,
                sender=self.envelope_from,
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
        except _Stop:
            with lock:
                unsent = [row.id for row in rows if row.id not in answered]
            self.outbox.release(unsent)
            return True
        return False
