"""Parse documents in worker processes that the clock can stop.

feedparser is pure Python and some inputs make it slow (its author regex is
quadratic: a 32 KB ``<author>`` takes seconds). A thread cannot be interrupted, so
each parse runs in a child process; one that overruns its wall-clock limit is
killed and replaced, and only that feed fails. The child also gets an address-space
limit so that an entity or decompression bomb that slipped through cannot take the
machine's memory.

The children are plain ``python -m newsletter.sources._child`` processes talking
length-prefixed pickles over their stdin/stdout. Unlike ``multiprocessing`` this
never re-imports the caller's ``__main__`` (a script without an ``if __name__ ==
"__main__"`` guard would otherwise run again in every worker) and never forks a
process that has threads running.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from newsletter.sources.model import FeedSpec
from newsletter.sources.parse import ParseResult, parse_document

_HEADER = struct.Struct(">Q")
READY = b"ready"
STARTUP_TIMEOUT = 60.0
"""Seconds a new worker may take to import its modules (not counted as parse time)."""


@dataclass(frozen=True)
class ParseJob:
    body: bytes
    content_type: str | None
    location: str
    spec: FeedSpec
    now: datetime


# -- the child ---------------------------------------------------------------------------


def _read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    return data if len(data) == size else None


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def serve(memory_limit: int | None) -> None:
    """Child main loop: parse jobs from stdin until it closes."""
    if memory_limit:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    channel_in = sys.stdin.buffer
    channel_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    _write_frame(channel_out, READY)  # imports done: the parse clock may start
    while True:
        frame = _read_frame(channel_in)
        if frame is None:
            return
        job: ParseJob = pickle.loads(frame)
        try:
            result = parse_document(
                job.body,
                content_type=job.content_type,
                location=job.location,
                spec=job.spec,
                now=job.now,
            )
            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            payload = pickle.dumps(ParseResult(error="parsing needed more memory than allowed"))
        _write_frame(channel_out, payload)


# -- the parent --------------------------------------------------------------------------


class _Timeout(Exception):
    pass


class _StartError(Exception):
    pass


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    """``size`` bytes from ``fd`` before ``deadline`` (poll, not select: no FD_SETSIZE cap)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    buf = bytearray()
    while len(buf) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise _Timeout
        chunk = os.read(fd, min(size - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _child_env() -> dict[str, str]:
    """The environment for a worker: the parent's, plus where ``newsletter`` lives."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


class _Slot:
    """One worker process, started on first use and restarted after a kill."""

    def __init__(self, memory_limit: int | None) -> None:
        self._memory_limit = memory_limit
        self._process: subprocess.Popen[bytes] | None = None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self.kill()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "newsletter.sources._child", str(self._memory_limit or 0)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_child_env(),
                close_fds=True,
            )
            assert self._process.stdout is not None
            fd = self._process.stdout.fileno()
            deadline = time.monotonic() + STARTUP_TIMEOUT
            try:
                (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
                ready = _read_exact(fd, size, deadline) if size == len(READY) else b""
            except (_Timeout, EOFError, OSError):
                ready = b""
            if ready != READY:
                self.kill()
                raise _StartError
        return self._process

    def run(self, job: ParseJob, timeout: float) -> ParseResult:
        try:
            process = self._ensure()
        except _StartError:
            return ParseResult(error="the parser process could not be started")
        assert process.stdin is not None and process.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            _write_frame(process.stdin, pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
            fd = process.stdout.fileno()
            (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
            result = pickle.loads(_read_exact(fd, size, deadline + 5.0))
        except _Timeout:
            self.kill()
            return ParseResult(
                error=f"parsing took longer than {timeout:g} s and was stopped "
                "(a pathological feed document)"
            )
        except (EOFError, OSError, pickle.UnpicklingError):
            self.kill()
            return ParseResult(error="the parser process died on this document")
        if not isinstance(result, ParseResult):  # pragma: no cover - protocol guard
            self.kill()
            return ParseResult(error="the parser process returned garbage")
        return result

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.kill()
        process.wait(5)
        self._close_pipes(process)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()  # EOF: the child's loop ends
        try:
            process.wait(2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(2)
        self._close_pipes(process)

    @staticmethod
    def _close_pipes(process: subprocess.Popen[bytes]) -> None:
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class ParserPool:
    """A fixed number of parser processes shared by threads; thread-safe ``parse``."""

    def __init__(self, size: int, *, timeout: float, memory_limit: int | None = None) -> None:
        self.timeout = timeout
        self._slots = [_Slot(memory_limit) for _ in range(max(1, size))]
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
