"""The relay stand-in for end-to-end benchmarks: a counting SMTP server in its own process.

In production the relay runs on another machine; here it shares two cores with the run
it measures. aiosmtpd parses every line of every message in Python (about 3 ms of CPU per
140 KB digest), which on this machine made the relay the slowest stage of the pipeline:
delivery waited on its replies and ended seconds after composing. The ``lean`` server
speaks the same SMTP to the client (EHLO, MAIL, RCPT, DATA with dot-termination, RSET,
NOOP, QUIT) but finds the end of DATA with one byte search per network read, so what the
benchmark measures is the run, not the stand-in. Both count messages, distinct and
repeated recipients, and the end-to-end benchmark checks those against the run's tally.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.smtp_sink import free_port

_END = b"\r\n.\r\n"
_EHLO = b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 33554432\r\n"


class _Tally:
    def __init__(self) -> None:
        self.messages = 0
        self.recipients: set[str] = set()
        self.repeated = 0

    def received(self, recipients: list[str]) -> None:
        self.messages += 1
        for rcpt in recipients:
            if rcpt in self.recipients:
                self.repeated += 1
            self.recipients.add(rcpt)

    def counts(self) -> tuple[int, int, int]:
        """Messages, distinct recipients and repeated ones (sent back when the server ends)."""
        return self.messages, len(self.recipients), self.repeated


class _LeanSmtp(asyncio.Protocol):
    """One client connection: commands line by line, DATA scanned for its end in bulk."""

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally
        self.buffer = bytearray()
        self.in_data = False
        self.rcpts: list[str] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            if self.in_data:
                end = self.buffer.find(_END)
                if end == -1:
                    if len(self.buffer) > 4:
                        del self.buffer[:-4]  # the end may straddle two reads
                    return
                del self.buffer[: end + len(_END)]
                self.in_data = False
                self.tally.received(self.rcpts)
                self.transport.write(b"250 OK queued\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end == -1:
                return
            line = bytes(self.buffer[:line_end])
            del self.buffer[: line_end + 2]
            self._command(line)

    def _command(self, line: bytes) -> None:
        assert self.transport is not None
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.transport.write(_EHLO)
        elif verb == b"HELO":
            self.transport.write(b"250 sink\r\n")
        elif verb == b"MAIL":
            self.rcpts = []
            self.transport.write(b"250 OK\r\n")
        elif verb == b"RCPT":
            start, end = line.find(b"<"), line.find(b">")
            self.rcpts.append(line[start + 1 : end].decode("utf-8", "replace"))
            self.transport.write(b"250 OK\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.buffer[:0] = b"\r\n"  # so a body's first line can be the lone dot
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"RSET":
            self.rcpts = []
            self.transport.write(b"250 OK\r\n")
        elif verb == b"NOOP":
            self.transport.write(b"250 OK\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
            self.transport = None
        else:
            self.transport.write(b"502 Command not implemented\r\n")


def _lean_main(port: int, ready: Any, stop: Any, results: Any) -> None:
    tally = _Tally()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _LeanSmtp(tally), "127.0.0.1", port, backlog=128)
        ready.set()
        await loop.run_in_executor(None, stop.wait)
        server.close()
        await server.wait_closed()

    asyncio.run(serve())
    results.send(tally.counts())


class _AiosmtpdCounting:
    def __init__(self) -> None:
        self.tally = _Tally()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tally.received(list(envelope.rcpt_tos))
        return "250 OK"


def _aiosmtpd_main(port: int, ready: Any, stop: Any, results: Any) -> None:
    from aiosmtpd.controller import Controller

    handler = _AiosmtpdCounting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    results.send(handler.tally.counts())


@dataclass
class SinkCounts:
    port: int
    received: int = 0
    distinct: int = 0
    repeated: int = 0


SINKS = {"lean": _lean_main, "aiosmtpd": _aiosmtpd_main}


@contextmanager
def counting_sink(kind: str = "lean") -> Iterator[SinkCounts]:
    """An SMTP server in its own process (so it does not share our GIL) that only counts;
    ``kind`` is ``lean`` (the default) or ``aiosmtpd``."""
    ctx = multiprocessing.get_context("spawn")
    counts = SinkCounts(port=free_port())
    ready, stop = ctx.Event(), ctx.Event()
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=SINKS[kind], args=(counts.port, ready, stop, send), daemon=True)
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")
        yield counts
    finally:
        stop.set()
        if receive.poll(60):
            counts.received, counts.distinct, counts.repeated = receive.recv()
        process.join(30)
