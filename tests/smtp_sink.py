"""Real aiosmtpd servers on 127.0.0.1 with scriptable misbehaviour, for the delivery tests."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from newsletter import records


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """Accepts mail and remembers it; subclass hooks to misbehave.

    ``received`` holds (recipient, exact bytes as received after dot-unstuffing);
    ``envelopes`` the accepted envelopes (sender, options, recipients, content).
    ``sessions`` counts distinct SMTP sessions that started a transaction. ``host`` and
    ``port`` say where it listens once :func:`smtp_server` runs it.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.envelopes: list[Any] = []
        self.attempts: Counter[str] = Counter()
        self._sessions: set[int] = set()
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def count(self, recipient: str) -> int:
        return sum(1 for rcpt, _ in self.received if rcpt == recipient)

    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(e.content, policy=policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]

    def recipients(self) -> list[str]:
        return [r for e in self.envelopes for r in e.rcpt_tos]

    # --- hooks overridden by misbehaving sinks ---------------------------------------------

    def mail_reply(self, sender: str) -> str | None:
        return None

    def rcpt_reply(self, recipient: str) -> str | None:
        return None

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        return None

    # --- aiosmtpd handler API ---------------------------------------------------------------

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self._sessions.add(id(session))
        reply = self.mail_reply(address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        (recipient,) = envelope.rcpt_tos
        with self.lock:
            self.attempts[recipient] += 1
            attempt = self.attempts[recipient]
        reply = await self.data_reply(server, recipient, attempt)
        if reply:
            return reply
        with self.lock:
            self.received.append((recipient, envelope.original_content))
            self.envelopes.append(envelope)
        return "250 2.0.0 queued"


@contextmanager
def smtp_server(handler: Sink, **kwargs: Any) -> Iterator[int]:
    """Run ``handler`` on a free loopback port; yield the port."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    handler.port = port
    try:
        yield port
    finally:
        controller.stop()


def message(recipient: str, n: int = 0, *, body: str = "Hello.") -> records.Message:
    """A small, valid, CRLF message as the renderer would produce it."""
    mid = f"<{n}.{recipient.replace('@', '.')}@news.example.org>"
    data = (
        f"From: Digest <digest@news.example.org>\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Your digest {n}\r\n"
        f"Date: Thu, 26 Nov 2026 08:00:00 +0000\r\n"
        f"Message-ID: {mid}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"List-Unsubscribe: <https://news.example.org/unsubscribe?token=t{n}>\r\n"
        f"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        f"\r\n"
        f"{body}\r\n"
        f".starts with a dot\r\n"
    ).encode()
    return records.Message(
        recipient=recipient,
        sender="digest@news.example.org",
        message_id=mid,
        subject=f"Your digest {n}",
        data=data,
        html="",
        text=body,
    )


def tls_server_context(cert: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


async def drop(server: Any) -> None:
    """Close the client's connection without replying."""
    server.transport.close()
    await asyncio.sleep(0)


NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
