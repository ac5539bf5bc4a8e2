"""Confirmation mail for a sign-up: rendered from the templates folder, queued in the outbox
and sent through the same SMTP path as digests.

``serve`` sends each one at once from a background thread (it never waits for the next
``send``): the request queues the message in the outbox first, so a crash between the
queueing and the relay's answer costs at most one duplicate, as for digests.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from email.utils import format_datetime, make_msgid, parseaddr

from newsletter import logs
from newsletter.clock import Clock
from newsletter.config import Config
from newsletter.config.schema import TRENDING_ID, TRENDING_TITLE
from newsletter.deliver import SmtpSettings
from newsletter.deliver.verp import token_for
from newsletter.records import Message, RunStatus
from newsletter.render import environment, inline
from newsletter.render.encoding import encode_part
from newsletter.render.mime import CRLF, address, encode_header
from newsletter.render.textutil import header_safe
from newsletter.run.deliver import Deliverer
from newsletter.run.links import Links
from newsletter.run.messages import render_settings, sender_domain
from newsletter.run.tally import Tally
from newsletter.store.protocols import Storage
from newsletter.store.records import NOTICE_SCHEDULE, Choice, RunTally

event = logs.events(__name__)

SCHEDULE = NOTICE_SCHEDULE
"""The run schedule confirmation mail is queued under (one run per mail)."""
HTML_TEMPLATE = "confirm.html.j2"
TEXT_TEMPLATE = "confirm.txt.j2"
RETRY_EVERY = 60.0
"""Seconds between the sender thread's looks at the outbox when nothing woke it (a
deferred confirmation is retried like a digest)."""


class ConfirmationMaker:
    """Renders confirmation messages for one config (templates are loaded once; a broken
    override raises :class:`~newsletter.render.TemplateError` here, at start-up)."""

    def __init__(self, config: Config, secret: str) -> None:
        self.config = config
        self.secret = secret
        self._settings = render_settings(config)
        html_env = environment.make_environment(self._settings, html=True)
        text_env = environment.make_environment(self._settings, html=False)
        self._html = environment.get_template(html_env, HTML_TEMPLATE)
        self._text = environment.get_template(text_env, TEXT_TEMPLATE)

    def _titles(self, choice: Choice) -> list[str]:
        titles = []
        for topic_id in choice.topics:
            if topic_id in self.config.topics:
                titles.append(self.config.topics[topic_id].title)
            elif topic_id == TRENDING_ID:
                titles.append(TRENDING_TITLE)
        if choice.own_topic:
            titles.append(f"“{choice.own_topic}”")
        return titles

    def make(self, email: str, choice: Choice, now: datetime) -> Message:
        settings = self._settings
        url = Links(self.config.base_url, self.secret, now).confirm(email)
        values = {
            "title": settings.title,
            "base_url": settings.base_url,
            "lang": settings.lang,
            "dir": settings.direction,
            "footer_lines": settings.footer_lines,
            "email": email,
            "name": choice.name,
            "confirm_url": url,
            "hours": self.config.subscribe.confirm_hours,
            "topics": self._titles(choice),
            "schedule": choice.schedule,
            "timezone": choice.timezone,
        }
        html = inline.inline_document(environment.render(self._html, values))
        text = environment.render(self._text, values).strip() + "\n"
        name, sender = parseaddr(self.config.sender)
        message_id = make_msgid("confirm", domain=sender_domain(self.config.sender))
        subject = f"Confirm your subscription to {header_safe(settings.title)}"
        boundary = "==newsletter-confirm=="
        part = (
            '--{b}\r\nContent-Type: text/{kind}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        data = b"".join(
            [
                b"From: " + address(sender, name).encode("ascii") + CRLF,
                b"To: " + address(email, choice.name).encode("ascii") + CRLF,
                encode_header("Subject", subject),
                b"Date: " + format_datetime(now).encode("ascii") + CRLF,
                b"Message-ID: " + message_id.encode("ascii") + CRLF,
                b"MIME-Version: 1.0" + CRLF,
                b"Auto-Submitted: auto-generated" + CRLF,
                f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode(),
                CRLF,
                part.format(b=boundary, kind="plain").encode("ascii"),
                encode_part(text.replace("\n", "\r\n")),
                CRLF,
                part.format(b=boundary, kind="html").encode("ascii"),
                encode_part(html.replace("\n", "\r\n")),
                CRLF,
                f"--{boundary}--\r\n".encode("ascii"),
            ]
        )
        return Message(
            recipient=email,
            sender=sender,
            message_id=message_id,
            subject=subject,
            data=data,
            html=html,
            text=text,
            token=token_for(message_id, self.secret),
        )


def queue_confirmation(store: Storage, message: Message, now: datetime) -> None:
    """One run per mail (``confirm`` / time and address digest), its one message pending."""
    digest = hashlib.sha256(message.recipient.lower().encode()).hexdigest()[:12]
    period = f"{now:%Y-%m-%dT%H:%M:%S.%f}-{digest}"
    run_id = store.claim_run(SCHEDULE, period, now)
    if run_id is None:  # the same address in the same microsecond: already queued
        return
    written = store.enqueue(run_id, [message], now)
    store.finish_run(run_id, now, RunStatus.DONE, RunTally(composed=written))


class ConfirmationSender:
    """Queues confirmations and, with SMTP settings, sends them from a background thread.

    Without SMTP settings (none configured) the mail waits in the outbox for the next
    ``send`` or the daemon's outbox job, which deliver every due row.
    """

    def __init__(
        self,
        config: Config,
        store: Storage,
        *,
        secret: str,
        smtp: SmtpSettings | None,
        clock: Clock,
    ) -> None:
        self.maker = ConfirmationMaker(config, secret)
        self.config = config
        self.store = store
        self.smtp = smtp
        self.clock = clock
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, email: str, choice: Choice) -> None:
        now = self.clock()
        queue_confirmation(self.store, self.maker.make(email, choice, now), now)
        self.wake.set()

    def send_due(self) -> Tally:
        """Send every queued confirmation that is due, now (the thread's one step)."""
        tally = Tally()
        if self.smtp is None:
            return tally
        deliverer = Deliverer.for_config(
            self.store, self.smtp, self.config, clock=self.clock, stop=self.stop, schedule=SCHEDULE
        )
        deliverer.deliver(tally, retry_deferred=False)
        return tally

    def start(self) -> None:
        if self.smtp is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="confirmations", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.wake.wait(RETRY_EVERY)
            self.wake.clear()
            if self.stop.is_set():
                return
            try:
                tally = self.send_due()
            except Exception:  # the relay or the database is down: try again later
                event("confirmations_failed", exc_info=True)
                continue
            if tally.sent or tally.deferred or tally.failed:
                event(
                    "confirmations", sent=tally.sent, deferred=tally.deferred, failed=tally.failed
                )

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
