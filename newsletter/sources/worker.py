"""Parse documents in worker processes that the clock can stop.

feedparser is pure Python and some inputs make it slow (its author regex is
quadratic: a 32 KB ``<author>`` takes seconds). A thread cannot be interrupted, so
each parse runs in a child process; one that overruns its wall-clock limit is
killed and replaced, and only that feed fails. The child also gets an address-space
limit so that an entity or decompression bomb that slipped through cannot take the
machine's memory.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from newsletter.sources.model import FeedSpec
from newsletter.sources.parse import ParseResult, parse_document


@dataclass(frozen=True)
class ParseJob:
    body: bytes
    content_type: str | None
    location: str
    spec: FeedSpec
    now: datetime


def _context() -> BaseContext:
    # forkserver: children fork from a clean single-threaded server (our parent has
    # event-loop and executor threads, which plain fork would copy mid-flight).
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["newsletter.sources.parse"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - non-Linux


def _serve(conn: Connection, memory_limit: int | None) -> None:
    """Child main loop: parse jobs until the pipe closes."""
    if memory_limit:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            result = parse_document(
                job.body,
                content_type=job.content_type,
                location=job.location,
                spec=job.spec,
                now=job.now,
            )
        except MemoryError:
            result = ParseResult(error="parsing needed more memory than allowed")
        conn.send(result)


class _Slot:
    """One worker process, started on first use and restarted after a kill."""

    def __init__(self, ctx: BaseContext, memory_limit: int | None) -> None:
        self._ctx = ctx
        self._memory_limit = memory_limit
        self._process: Any = None
        self._conn: Connection | None = None

    def _ensure(self) -> Connection:
        if self._conn is None or self._process is None or not self._process.is_alive():
            self.stop()
            parent, child = self._ctx.Pipe()
            process = self._ctx.Process(  # type: ignore[attr-defined]
                target=_serve, args=(child, self._memory_limit), daemon=True
            )
            process.start()
            child.close()
            self._process, self._conn = process, parent
        return self._conn

    def run(self, job: ParseJob, timeout: float) -> ParseResult:
        conn = self._ensure()
        try:
            conn.send(job)
            if not conn.poll(timeout):
                self.kill()
                return ParseResult(
                    error=f"parsing took longer than {timeout:g} s and was stopped "
                    "(a pathological feed document)"
                )
            result = conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.kill()
            return ParseResult(error="the parser process died on this document")
        if not isinstance(result, ParseResult):  # pragma: no cover - protocol guard
            self.kill()
            return ParseResult(error="the parser process returned garbage")
        return result

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
        self._close_conn()
        self._process = None

    def stop(self) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._process.join(2)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(2)
        self._close_conn()
        self._process = None

    def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._conn = None


class ParserPool:
    """A fixed number of parser processes shared by threads; thread-safe ``parse``."""

    def __init__(self, size: int, *, timeout: float, memory_limit: int | None = None) -> None:
        self.timeout = timeout
        ctx = _context()
        self._slots: list[_Slot] = [_Slot(ctx, memory_limit) for _ in range(max(1, size))]
        self._idle: queue.Queue[_Slot] = queue.Queue()
        for slot in self._slots:
            self._idle.put(slot)
        self._closed = threading.Event()

    def parse(self, job: ParseJob) -> ParseResult:
        if self._closed.is_set():
            raise RuntimeError("parser pool is closed")
        slot = self._idle.get()
        try:
            return slot.run(job, self.timeout)
        finally:
            self._idle.put(slot)

    def close(self) -> None:
        self._closed.set()
        for slot in self._slots:
            slot.stop()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
