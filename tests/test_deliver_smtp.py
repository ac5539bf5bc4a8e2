"""SmtpSender against real aiosmtpd servers on loopback: success, refusals, drops, stalls, reuse."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smtp_sink import Sink, drop, message, smtp_server

from newsletter import records
from newsletter.deliver.smtp import (
    SendResult,
    SmtpError,
    SmtpSender,
    SmtpSettings,
    send_many,
    wire_data,
)


def settings(port: int, **kw: Any) -> SmtpSettings:
    base: dict[str, Any] = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5.0}
    return SmtpSettings(**(base | kw))


def deliver_until_done(
    s: SmtpSettings, messages: list[records.Message], rounds: int = 5
) -> dict[str, SendResult]:
    """What the outbox does, minus the database: send, then retry the deferred ones."""
    final: dict[str, SendResult] = {}
    todo = messages
    for _ in range(rounds):
        results: dict[str, SendResult] = {}
        with SmtpSender(s) as sender:
            send_many(sender, todo, lambda m, r, out=results: out.__setitem__(m.recipient, r))
        final.update(results)
        todo = [m for m in todo if results[m.recipient].status == "deferred"]
        if not todo:
            break
    return final


def test_accepting_server_gets_each_message_once_with_exact_bytes() -> None:
    sink = Sink()
    msgs = [message(f"user{i}@example.com", i) for i in range(20)]
    with smtp_server(sink) as port:
        results = deliver_until_done(settings(port, connections=3), msgs)
    assert {r.status for r in results.values()} == {"sent"}
    assert all(r.code == 250 and "queued" in r.reply for r in results.values())
    for m in msgs:
        assert sink.count(m.recipient) == 1
    got = dict(sink.received)
    # Dot-stuffing is undone by the server: the bytes received are the bytes rendered.
    assert got["user7@example.com"] == msgs[7].data


def test_sessions_are_reused_up_to_the_per_connection_cap() -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        s = settings(port, connections=1, messages_per_connection=4)
        with SmtpSender(s) as sender:
            results = [sender.send(message(f"u{i}@example.com", i)) for i in range(10)]
    assert [r.status for r in results] == ["sent"] * 10
    assert sink.sessions == 3  # 4 + 4 + 2


class TemporaryFailures(Sink):
    """421 at MAIL for the first attempt, then 451 at DATA for the next two."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_calls = 0

    def mail_reply(self, sender: str) -> str | None:
        with self.lock:
            self.mail_calls += 1
            return "421 4.3.2 try again later" if self.mail_calls == 1 else None

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        return "451 4.3.0 temporarily unable" if attempt <= 2 else None


def test_temporary_failures_are_deferred_then_delivered_once() -> None:
    sink = TemporaryFailures()
    msgs = [message(f"t{i}@example.com", i) for i in range(4)]
    first: list[SendResult] = []
    with (
        smtp_server(sink) as port,
        SmtpSender(settings(port, connections=1)) as sender,
    ):
        first = [sender.send(m) for m in msgs]
        assert first[0].status == "deferred" and first[0].code == 421
        assert first[1].status == "deferred" and first[1].code == 451
        assert "temporarily unable" in first[1].reply
        results = deliver_until_done(settings(port, connections=2), msgs)
    assert {r.status for r in results.values()} == {"sent"}
    assert all(sink.count(m.recipient) == 1 for m in msgs)


class RefusesOne(Sink):
    def rcpt_reply(self, recipient: str) -> str | None:
        return "550 5.1.1 no such user" if recipient == "gone@example.com" else None


def test_one_refused_recipient_fails_alone_and_the_session_carries_on() -> None:
    sink = RefusesOne()
    names = ["a@example.com", "gone@example.com", "b@example.com", "c@example.com"]
    with (
        smtp_server(sink) as port,
        SmtpSender(settings(port, connections=1)) as sender,
    ):
        results = {n: sender.send(message(n, i)) for i, n in enumerate(names)}
    assert results["gone@example.com"].status == "failed"
    assert results["gone@example.com"].code == 550
    assert "no such user" in results["gone@example.com"].reply
    assert all(results[n].status == "sent" for n in names if n != "gone@example.com")
    assert sink.count("gone@example.com") == 0
    assert sink.sessions == 1  # RSET after the refusal kept the session usable


class DropsMidData(Sink):
    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        if attempt == 1 and recipient.startswith("drop"):
            await drop(server)
            return "451 never seen"
        return None


def test_connection_dropped_mid_data_is_deferred_and_retried_once() -> None:
    sink = DropsMidData()
    msgs = [message("ok1@example.com", 1), message("drop@example.com", 2)]
    msgs += [message("ok2@example.com", 3)]
    with (
        smtp_server(sink) as port,
        SmtpSender(settings(port, connections=1)) as sender,
    ):
        first = {m.recipient: sender.send(m) for m in msgs}
        results = deliver_until_done(settings(port), msgs[1:2])
    assert first["drop@example.com"].status == "deferred"
    assert first["drop@example.com"].code is None
    assert "closed the connection" in first["drop@example.com"].reply
    # The sender reconnected for the next message instead of failing it.
    assert first["ok2@example.com"].status == "sent"
    assert results["drop@example.com"].status == "sent"
    assert [sink.count(m.recipient) for m in msgs] == [1, 1, 1]


class ClosesIdleSessions(Sink):
    """Closes the connection right after accepting, like a server with a short idle timeout."""

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        asyncio.get_running_loop().call_soon(server.transport.close)
        return None


def test_a_session_closed_while_idle_is_reopened_without_deferring() -> None:
    sink = ClosesIdleSessions()
    with (
        smtp_server(sink) as port,
        SmtpSender(settings(port, connections=1)) as sender,
    ):
        first = sender.send(message("x@example.com", 1))
        second = sender.send(message("y@example.com", 2))
    assert (first.status, second.status) == ("sent", "sent")
    assert sink.sessions == 2


class Stalls(Sink):
    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        if attempt == 1:
            await asyncio.sleep(3)
            return "451 too late"
        return None


def test_a_stalled_server_times_out_and_the_message_is_deferred() -> None:
    sink = Stalls()
    msg = message("slow@example.com")
    with (
        smtp_server(sink) as port,
        SmtpSender(settings(port, timeout=0.3)) as sender,
    ):
        result = sender.send(msg)
        assert result.status == "deferred"
        assert "no answer within 0.3 s" in result.reply
        results = deliver_until_done(settings(port, timeout=0.3), [msg])
    assert results["slow@example.com"].status == "sent"
    assert sink.count("slow@example.com") == 1


def test_a_server_that_never_greets_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)  # accepts TCP in the backlog, never says 220
        port = listener.getsockname()[1]
        with SmtpSender(settings(port, timeout=0.2)) as sender:
            result = sender.send(message("a@example.com"))
    assert result.status == "deferred"
    assert f"127.0.0.1:{port} during connect: no answer within 0.2 s" in result.reply


def test_unreachable_server_defers_and_stops_hammering() -> None:
    port = 1  # nothing listens on loopback port 1: connection refused at once
    with SmtpSender(settings(port)) as sender:
        results = [sender.send(message(f"r{i}@example.com", i)) for i in range(6)]
    assert {r.status for r in results} == {"deferred"}
    assert "refused" in results[0].reply.lower()
    # After three failed sessions the rest are not even attempted (circuit open).
    assert results[-1].reply.startswith("not attempted, server unavailable")


def test_invalid_addresses_fail_without_touching_the_server() -> None:
    bad = records.Message(
        recipient="victim@example.com\r\nRCPT TO:<x@evil>",
        sender="digest@news.example.org",
        message_id="<1@x>",
        subject="s",
        data=b"Subject: s\r\n\r\nx\r\n",
        html="",
        text="",
    )
    with SmtpSender(settings(1)) as sender:
        result = sender.send(bad)
    assert result.status == "failed"
    assert "line break" in result.reply


def test_send_many_reports_every_message_and_propagates_callback_errors() -> None:
    sink = Sink()
    seen: list[str] = []
    lock = threading.Lock()

    def record(m: records.Message, r: SendResult) -> None:
        with lock:
            seen.append(m.recipient)
            if len(seen) == 5:
                raise RuntimeError("database is gone")

    with (
        smtp_server(sink) as port,
        SmtpSender(settings(port, connections=2)) as sender,
        pytest.raises(RuntimeError, match="database is gone"),
    ):
        send_many(sender, (message(f"m{i}@example.com", i) for i in range(200)), record)
    # It stopped early: only messages already in flight were finished.
    assert 5 <= len(seen) < 20
    assert len(sink.received) == len(seen)


def test_wire_data_normalises_line_ends_and_stuffs_dots() -> None:
    assert wire_data(b"a\nb\r.c\r\n.d") == b"a\r\nb\r\n..c\r\n..d\r\n.\r\n"
    assert wire_data(b"x\r\n") == b"x\r\n.\r\n"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"security": "tls"}, "must be one of starttls, ssl, none"),
        ({"security": "none", "host": "mail.example.org"}, "allowed only for localhost"),
        ({"port": 0}, "port must be between"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"connections": 0}, "connections must be at least 1"),
        ({"rate_per_second": 0}, "rate must be positive"),
        ({"username": "u"}, "both the SMTP username and password"),
    ],
)
def test_settings_errors_are_clear(kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(SmtpError, match=needle):
        SmtpSettings(**kw)


def test_insecure_remote_host_only_when_forced_and_repr_hides_password() -> None:
    s = SmtpSettings(
        host="mail.example.org",
        security="none",
        allow_insecure=True,
        username="me",
        password="hunter2-secret",
    )
    assert "hunter2" not in repr(s)
    assert "me" in repr(s)


def test_non_ascii_addresses_use_smtputf8_or_fail_clearly() -> None:
    msg = dataclasses.replace(message("x@example.com"), recipient="josé@exämple.org")
    sink = Sink()
    with smtp_server(sink, enable_SMTPUTF8=True) as port, SmtpSender(settings(port)) as sender:
        ok = sender.send(msg)
    with smtp_server(Sink(), enable_SMTPUTF8=False) as port, SmtpSender(settings(port)) as sender:
        refused = sender.send(msg)
    assert ok.status == "sent", ok.reply
    assert sink.count("josé@exämple.org") == 1
    assert refused.status == "failed"
    assert "SMTPUTF8" in refused.reply


def test_the_rate_limit_paces_a_run() -> None:
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:  # an injected clock: no real waiting
        slept.append(seconds)
        now[0] += seconds

    sink = Sink()
    with smtp_server(sink) as port:
        s = settings(port, connections=1, rate_per_second=5)
        with SmtpSender(s, clock=lambda: now[0], sleep=sleep) as sender:
            results = [sender.send(message(f"p{i}@example.com", i)) for i in range(10)]
    assert {r.status for r in results} == {"sent"}
    # 10 messages at 5/s: the first goes at once, each later one 0.2 s after the previous.
    assert sum(slept) == pytest.approx(1.8)
    assert len(sink.received) == 10


def _wire_reference(data: bytes) -> bytes:
    """SMTP DATA by the book, line by line (RFC 5321 4.5.2), as an oracle for the fast path."""
    lines = re.split(rb"\r\n|\n|\r", data)
    if len(lines) > 1 and lines[-1] == b"":
        lines.pop()  # the data ended with a line break (empty data is one empty line)
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"


@given(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"..", b" "]), max_size=30))
def test_wire_data_equals_the_line_by_line_rule(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert wire_data(data) == _wire_reference(data)
