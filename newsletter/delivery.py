"""A real send: compose into the outbox first, then deliver what the outbox holds.

Writing every digest as a ``pending`` row before the first SMTP connection means a
crash at any point loses nothing: the next ``send`` finds the rows and finishes
them, and composition skips entries already in a pending/sent row.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

from newsletter.deliver.smtp import SendResult, SmtpSender, SmtpSettings, backoff, send_many
from newsletter.pipeline import (
    BATCH,
    App,
    active_subscribers,
    dkim_signer,
    fetch,
    iter_digests,
    render_messages,
)
from newsletter.records import Message, Subscriber
from newsletter.sources import FetchOutcome
from newsletter.store import OutboxRow

LEASE = timedelta(minutes=10)
"""How long a claimed row stays ours; a sender that died releases its rows when this expires."""
GIVE_UP_AFTER = timedelta(days=3)
HOST = socket.gethostname()


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


@dataclass
class SendOutcome:
    fetched: list[FetchOutcome] = field(default_factory=list)
    composed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.deferred == 0 and self.failed == 0


def smtp_settings(app: App) -> SmtpSettings:
    env = app.env
    return SmtpSettings(
        host=env.smtp_host or "localhost",
        port=env.smtp_port_or_default,
        security=env.smtp_security,
        username=env.smtp_username,
        password=env.smtp_password,
        timeout=env.smtp_timeout,
        connections=env.smtp_connections,
        rate_per_second=env.smtp_rate,
        messages_per_connection=env.smtp_messages_per_connection,
        allow_insecure=env.smtp_allow_insecure,
        ca_file=env.smtp_ca_file,
    )


def compose_into_outbox(
    app: App,
    *,
    only: str | None = None,
    subscribers: Sequence[Subscriber] | None = None,
    schedule: str = "manual",
    period: str | None = None,
) -> int:
    """Compose due digests and write them as pending rows, one transaction per batch.

    ``(schedule, period)`` is claimed first: a second call with the same key, from this
    or another process, composes nothing. A manual send uses a key of its own each time.
    ``subscribers`` limits the run (e.g. to one schedule's subscribers in one time zone).
    """
    now = app.now()
    period = period or now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # Everything that can fail on a setting is checked before the run is claimed.
    secret = app.env.require_secret()
    sign = dkim_signer(app.env)
    run_id = app.store.claim_run(schedule, period, now)
    if run_id is None:  # another process composed this run already
        return 0
    chosen = active_subscribers(app, only)
    done = app.store.run_subscribers(run_id)  # non-empty only when taking over a dead run
    chosen = [s for s in chosen if s.email.lower() not in done]
    if subscribers is not None:
        wanted = {s.email.lower() for s in subscribers}
        chosen = [s for s in chosen if s.email.lower() in wanted]
    digests = iter_digests(app, chosen)
    composed = 0
    messages = render_messages(
        app, digests, run_key=f"{schedule}:{period}", secret=secret, sign=sign
    )
    batch: list[Message] = []
    for message in messages:
        batch.append(message)
        if len(batch) >= BATCH:
            composed += app.store.enqueue(run_id, batch, now)
            batch = []
    composed += app.store.enqueue(run_id, batch, now)
    app.store.finish_run(run_id, app.now(), "composed", {"composed": composed})
    return composed


def deliver_outbox(
    app: App,
    *,
    settings: SmtpSettings | None = None,
    retry_deferred: bool = False,
    on_result: Callable[[OutboxRow, SendResult], None] | None = None,
) -> SendOutcome:
    """Send every due outbox row; record each outcome as soon as the server answers."""
    outcome = SendOutcome()
    settings = settings or smtp_settings(app)
    envelope_from = parseaddr(app.config.sender)[1]
    rng = random.Random()
    lock = threading.Lock()
    if retry_deferred:
        app.store.make_deferred_due(app.now())
    app.store.release_dead_leases(app.now(), HOST, process_alive)
    with SmtpSender(settings) as sender:
        by_id: dict[str, OutboxRow] = {}

        def record(message: Message, result: SendResult) -> None:
            row = by_id[message.message_id]
            now = app.now()
            status = result.status
            next_attempt = None
            if status == "deferred":
                if now - row.created_at > GIVE_UP_AFTER:
                    status = "failed"
                else:
                    next_attempt = now + backoff(row.attempts, rng)
            app.store.mark(row.id, status, now=now, reply=result.reply, next_attempt=next_attempt)
            with lock:
                setattr(outcome, status, getattr(outcome, status) + 1)
                if status != "sent":
                    outcome.problems.append((row.subscriber, status, result.reply))
            if on_result is not None:
                on_result(row, result)

        while True:
            rows = app.store.claim(
                app.now(), LEASE, limit=max(BATCH, settings.connections * 20), owner=lease_owner()
            )
            if not rows:
                break
            by_id.clear()  # only this batch: holding every message of the run grew with the list
            by_id.update((row.message_id, row) for row in rows)
            send_many(
                sender,
                [
                    Message(
                        recipient=row.subscriber,
                        sender=envelope_from,
                        message_id=row.message_id,
                        subject=row.subject,
                        data=row.data,
                        html="",
                        text="",
                    )
                    for row in rows
                ],
                record,
            )
    return outcome


def send(
    app: App,
    *,
    only: str | None = None,
    fetch_first: bool = True,
    retry_deferred: bool = False,
    progress: Callable[[FetchOutcome], None] | None = None,
    on_result: Callable[[OutboxRow, SendResult], None] | None = None,
) -> SendOutcome:
    """`send`: fetch, compose into the outbox, deliver. Exit status follows ``complete``."""
    app.env.require_smtp()
    app.env.require_secret()
    dkim_signer(app.env)  # a bad DKIM setting stops the send before anything is fetched
    fetched = fetch(app, progress=progress) if fetch_first else []
    composed = compose_into_outbox(app, only=only)
    outcome = deliver_outbox(app, retry_deferred=retry_deferred, on_result=on_result)
    outcome.fetched = fetched
    outcome.composed = composed
    return outcome


def outbox_summary(rows: Sequence[OutboxRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
