"""Delivery throughput: the pooled SmtpSender against one smtplib connection per message.

Both send the same messages to the same local aiosmtpd sink (which only counts) in the
same run, so the ratio shows what connection reuse and parallel sessions buy. Run with
``python -m bench.deliver [--quick]``.
"""

from __future__ import annotations

import multiprocessing
import os
import smtplib
import ssl
import sys
import tempfile
import threading
import time
from typing import Any

from aiosmtpd.controller import Controller

from newsletter import records
from newsletter.deliver.smtp import SendResult, SmtpSender, SmtpSettings, send_many
from tests.smtp_sink import free_port

BODY_BYTES = 16 * 1024
"""About one rendered digest (HTML and text parts, quoted-printable)."""


class CountingSink:
    def __init__(self, counter: Any) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def _sink_process(
    port: int, counter: Any, ready: Any, stop: Any, cert: tuple[str, str] | None
) -> None:
    """The sink runs in its own process so it does not share the GIL with the senders."""
    kwargs: dict[str, Any] = {}
    if cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*cert)
        kwargs = {"tls_context": tls, "require_starttls": True}
    controller = Controller(CountingSink(counter), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def _messages(n: int) -> list[records.Message]:
    line = b"x" * 74 + b"\r\n"
    body = line * (BODY_BYTES // len(line))
    out = []
    for i in range(n):
        rcpt = f"reader{i}@example.com"
        head = (
            f"From: digest@news.example.org\r\nTo: {rcpt}\r\nSubject: Digest\r\n"
            f"Message-ID: <{i}@news.example.org>\r\n\r\n"
        ).encode()
        out.append(
            records.Message(
                recipient=rcpt,
                sender="digest@news.example.org",
                message_id=f"<{i}@news.example.org>",
                subject="Digest",
                data=head + body,
                html="",
                text="",
            )
        )
    return out


def _pooled(port: int, messages: list[records.Message], ca: str | None) -> tuple[float, int]:
    security = "starttls" if ca else "none"
    settings = SmtpSettings(host="127.0.0.1", port=port, security=security, timeout=30, ca_file=ca)
    sent = 0
    lock = threading.Lock()

    def count(message: records.Message, result: SendResult) -> None:
        nonlocal sent
        if result.status == "sent":
            with lock:
                sent += 1

    start = time.perf_counter()
    with SmtpSender(settings) as sender:
        send_many(sender, messages, count)
    return time.perf_counter() - start, sent


def _one_connection_per_message(
    port: int, messages: list[records.Message], ca: str | None
) -> tuple[float, int]:
    tls = ssl.create_default_context(cafile=ca) if ca else None
    sent = 0
    start = time.perf_counter()
    for m in messages:
        with smtplib.SMTP("127.0.0.1", port, "bench.local", timeout=30) as smtp:
            if tls:
                smtp.starttls(context=tls)
            smtp.sendmail(m.sender, [m.recipient], m.data)
            sent += 1
    return time.perf_counter() - start, sent


def _compare(n: int, tls: bool, workdir: str) -> dict[str, Any]:
    messages = _messages(n)
    cert: tuple[str, str] | None = None
    ca: str | None = None
    if tls:
        import trustme  # dev extra: a throwaway CA, so the handshake is real and verified

        authority = trustme.CA()
        issued = authority.issue_cert("127.0.0.1")
        ca, chain, key = (os.path.join(workdir, f) for f in ("ca.pem", "chain.pem", "key.pem"))
        authority.cert_pem.write_to_path(ca)
        issued.cert_chain_pems[0].write_to_path(chain)
        issued.private_key_pem.write_to_path(key)
        cert = (chain, key)
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    counter, ready, stop = ctx.Value("i", 0), ctx.Event(), ctx.Event()
    sink = ctx.Process(target=_sink_process, args=(port, counter, ready, stop, cert), daemon=True)
    sink.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")
        naive_s, naive_sent = _one_connection_per_message(port, messages, ca)
        pooled_s, pooled_sent = _pooled(port, messages, ca)
    finally:
        stop.set()
        sink.join(30)
    received = counter.value
    if naive_sent != n or pooled_sent != n or received != 2 * n:
        raise RuntimeError(f"lost mail: naive {naive_sent}, pooled {pooled_sent}, sink {received}")
    pooled_rate, naive_rate = n / pooled_s, n / naive_s
    mode = "STARTTLS" if tls else "plaintext"
    return {
        "name": f"deliver {n} msgs over {mode}: SmtpSender (2 pooled sessions) "
        "vs a new smtplib connection per message",
        "value": round(pooled_rate, 1),
        "baseline": round(naive_rate, 1),
        "unit": "msg/s",
        "ratio": round(pooled_rate / naive_rate, 2),
    }


def run(quick: bool) -> list[dict[str, Any]]:
    n = 1_000 if quick else 10_000
    with tempfile.TemporaryDirectory() as workdir:
        return [_compare(n, tls, workdir) for tls in (False, True)]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
