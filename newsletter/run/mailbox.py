"""One pass over the bounce mailbox: read every mail, apply what it says, file what was read.

Each mail is read (:func:`newsletter.deliver.reports.read_report`), tied to the outbox
row it is about (by its return token, else the Message-ID it quotes), applied
(:class:`~newsletter.run.bounces.Bounces`) and, once applied, moved to ``Processed``.
A mail that cannot be read, or that names no message of ours, stays in the mailbox
untouched. Applying is idempotent, so a crash between applying and moving costs nothing
but a second reading. A dry run reads and says what it would do, and changes nothing:
neither the database nor the mailbox.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from enum import StrEnum

from newsletter import logs
from newsletter.app import App
from newsletter.config import ConfigError, Environment, Problem
from newsletter.deliver.imap import Mailbox, MailboxError, MailboxUrl, parse_mailbox_url
from newsletter.deliver.reports import Report, Unreadable, read_report
from newsletter.errors import OperationalError
from newsletter.records import SuppressionReason
from newsletter.run.bounces import Bounces
from newsletter.store.protocols import OutboxStore
from newsletter.store.records import OutboxRow

event = logs.events(__name__)

EXAMPLE_URL = "imaps://bounces:password@mail.example.org:993/INBOX"


class Outcome(StrEnum):
    """What became of one mail."""

    HARD = "hard bounce"
    SOFT = "soft bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    NEWS = "no action"
    """Read and filed, changes nothing: a delay notice, an automatic reply, not-spam."""
    UNREAD = "left unread"


_OUTCOMES = {
    SuppressionReason.BOUNCE_HARD: Outcome.HARD,
    SuppressionReason.BOUNCE_SOFT: Outcome.SOFT,
    SuppressionReason.COMPLAINT: Outcome.COMPLAINT,
    SuppressionReason.UNSUBSCRIBE: Outcome.UNSUBSCRIBE,
}


@dataclass(frozen=True, slots=True)
class Handled:
    """One mail of the pass: what it was, whom it concerned, what was (or would be) done."""

    uid: str
    outcome: Outcome
    email: str | None
    detail: str
    done: str
    """``suppressed``, ``counted``, ``already suppressed``… or why it was left unread."""


@dataclass
class BouncePass:
    """What one pass over the mailbox did (or, in a dry run, would do)."""

    mailbox: str
    dry_run: bool = False
    handled: list[Handled] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(h.outcome is outcome for h in self.handled)

    @property
    def read(self) -> int:
        return len(self.handled)


def mailbox_url(env: Environment) -> MailboxUrl:
    """``BOUNCE_IMAP_URL``, parsed; a ConfigError (exit 2) says what to fix."""
    raw = env.bounce_imap_url
    if not raw:
        raise ConfigError(
            [
                Problem(
                    env.source,
                    None,
                    "BOUNCE_IMAP_URL is not set — add the bounce mailbox to .env, e.g. "
                    f"BOUNCE_IMAP_URL={EXAMPLE_URL}",
                )
            ]
        )
    try:
        return parse_mailbox_url(raw)
    except ValueError as exc:
        raise ConfigError(
            [
                Problem(
                    env.source,
                    None,
                    f"BOUNCE_IMAP_URL is not usable: {exc} — e.g. {EXAMPLE_URL} "
                    "(percent-encode @ : / in the user or password)",
                )
            ]
        ) from exc


def find_row(outbox: OutboxStore, report: Report) -> OutboxRow | None:
    """The message a report is about: its return token first, then a quoted Message-ID."""
    for token in report.tokens:
        row = outbox.find_message(token=token)
        if row is not None:
            return row
    for message_id in report.message_ids:
        row = outbox.find_message(message_id=message_id)
        if row is not None:
            return row
    return None


def read_bounces(
    app: App,
    url: MailboxUrl,
    *,
    dry_run: bool = False,
    tls: ssl.SSLContext | None = None,
    timeout: float = 30.0,
    stop: threading.Event | None = None,
) -> BouncePass:
    """One pass; an unreachable mailbox is an :class:`OperationalError` (exit 1). A stop
    ends it after the mail in hand (what was applied is still filed)."""
    bounces = Bounces(app.store, app.store, app.clock)
    result = BouncePass(url.where, dry_run=dry_run)
    try:
        with Mailbox(url, timeout=timeout, tls=tls) as box:
            filed: list[str] = []
            for fetched in box.messages():
                if fetched.data is None:
                    size = f"{fetched.size / 1024 / 1024:.1f} MB"
                    result.handled.append(
                        _unread(fetched.uid, f"too large to be a bounce ({size})")
                    )
                    continue
                handled = _handle(app, bounces, fetched.uid, fetched.data, dry_run)
                result.handled.append(handled)
                if handled.outcome is not Outcome.UNREAD:
                    filed.append(fetched.uid)
                if stop is not None and stop.is_set():
                    break
            if filed and not dry_run:
                box.move(filed)
    except MailboxError as exc:
        raise OperationalError(
            [Problem("bounce mailbox", None, f"{exc} — check BOUNCE_IMAP_URL and the server")]
        ) from exc
    event(
        "bounces",
        mailbox=url.where,
        read=result.read,
        hard=result.count(Outcome.HARD),
        soft=result.count(Outcome.SOFT),
        complaints=result.count(Outcome.COMPLAINT),
        unsubscribes=result.count(Outcome.UNSUBSCRIBE),
        unread=result.count(Outcome.UNREAD),
        dry_run=dry_run,
    )
    return result


def _unread(uid: str, why: str) -> Handled:
    return Handled(uid, Outcome.UNREAD, None, why, why)


def _handle(app: App, bounces: Bounces, uid: str, data: bytes, dry_run: bool) -> Handled:
    try:
        report = read_report(data)
    except Unreadable as exc:
        return _unread(uid, str(exc))
    row = find_row(app.store, report)
    if row is None:
        return _unread(uid, f"a {report.format} about no message of ours")
    email = row.subscriber
    if report.verdict is None:
        return Handled(uid, Outcome.NEWS, email, report.detail, "filed")
    outcome = _OUTCOMES[report.verdict]
    if dry_run:
        would = (
            "would count toward bounce-soft"
            if report.verdict is SuppressionReason.BOUNCE_SOFT
            else f"would suppress ({report.verdict})"
        )
        return Handled(uid, outcome, email, report.detail, would)
    suppressed = bounces.reported(row.id, email, report.verdict, report.detail)
    found = app.store.suppression(email) if suppressed else None
    if found is not None:
        done = f"suppressed ({found.reason})"
    elif report.verdict is SuppressionReason.BOUNCE_SOFT:
        done = "counted toward bounce-soft"
    else:
        done = "already suppressed"
    return Handled(uid, outcome, email, report.detail, done)
