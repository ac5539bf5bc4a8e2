"""Parse documents in worker processes that the clock can stop, kept for the process's life.

feedparser is pure Python and some inputs make it slow (its author regex is
quadratic: a 32 KB ``<author>`` takes seconds). A thread cannot be interrupted, so
each parse runs in a child process; one that overruns its wall-clock limit is
killed and replaced, and only that feed fails. Each parse also runs under an
address-space limit so that an entity or decompression bomb that slipped through
cannot take the machine's memory.

Starting a child costs 0.2–0.4 s (imports), so the children are started lazily — only
when a body needs parsing; a pass where every feed answers 304 starts none — and kept
for the life of the process (``shared_pool``), which the daemon reuses every round.
They are stopped at interpreter exit, and exit by themselves when the parent's end of
their stdin closes (the parent died).

The children are plain ``python -m newsletter.sources._child`` processes talking
length-prefixed pickles over their stdin/stdout. Unlike ``multiprocessing`` this
never re-imports the caller's ``__main__`` (a script without an ``if __name__ ==
"__main__"`` guard would otherwise run again in every worker) and never forks a
process that has threads running.

What a child says is kept for the log (logger ``newsletter.sources.worker``): a
traceback inside a parse comes back with the reply; a child that crashes (its
stderr, with faulthandler's dump for a fatal signal) or hangs (its stack when the
clock ran out) is logged by the parent. The feed's outcome gets one line.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import io
import logging
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from newsletter.sources.model import FeedSpec
from newsletter.sources.parse import ParseResult, parse_document

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">Q")
READY = b"ready"
STARTUP_TIMEOUT = 60.0
"""Seconds a new worker may take to import its modules (not counted as parse time)."""
LOG_LIMIT = 20_000
"""Characters of a child's output kept per parse (the end, where a traceback's cause is)."""
STACK_WAIT = 1.0
"""Seconds to wait for a hung child's stack dump before killing it."""


@dataclass(frozen=True)
class ParseJob:
    body: bytes
    content_type: str | None
    location: str
    spec: FeedSpec
    now: datetime
    memory_limit: int | None = None
    """Address-space limit (bytes) for this parse; None: the pool's."""


@dataclass(frozen=True)
class _Reply:
    result: ParseResult
    output: str = ""
    """What the parse wrote to stderr or logged (a traceback, warnings)."""


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


class _ToCurrentStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is now, so a parse's log lines can be captured."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _memory_limit(limit: int | None) -> Iterator[None]:
    """An address-space limit for one parse, lifted afterwards so the reply can be sent
    and the next parse gets its own limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    before = resource.getrlimit(resource.RLIMIT_AS)
    soft, hard = before
    if limit:
        soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    try:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, before)


def _handle(frame: bytes, default_limit: int | None) -> _Reply:
    """One job: its result, and everything written to stderr while it ran."""
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        try:
            job: ParseJob = pickle.loads(frame)
            with _memory_limit(job.memory_limit or default_limit):
                result = parse_document(
                    job.body,
                    content_type=job.content_type,
                    location=job.location,
                    spec=job.spec,
                    now=job.now,
                )
        except MemoryError:
            result = ParseResult(error="parsing needed more memory than allowed")
        except Exception as exc:
            logging.getLogger("newsletter.sources.parse").exception("the parser failed")
            why = f"the parser failed ({type(exc).__name__}: {exc})"
            result = ParseResult(error=_one_line(why))
    return _Reply(result, captured.getvalue()[-LOG_LIMIT:])


def serve(memory_limit: int | None) -> None:
    """Child main loop: parse jobs from stdin until it closes."""
    # Ctrl-C on a terminal reaches the whole process group; the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()  # a fatal signal leaves the Python stack on stderr
    faulthandler.register(signal.SIGUSR1, all_threads=False)  # "where are you stuck?"
    logging.basicConfig(
        level=logging.WARNING,
        handlers=[_ToCurrentStderr()],
        format="%(levelname)s %(name)s: %(message)s",
    )
    channel_in = sys.stdin.buffer
    channel_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    _write_frame(channel_out, READY)  # imports done: the parse clock may start
    while True:
        frame = _read_frame(channel_in)
        if frame is None:
            return
        reply = _handle(frame, memory_limit)
        try:
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result is a bug: say so, keep serving
            error = _one_line(f"the parser's result could not be sent ({type(exc).__name__})")
            output = (reply.output + traceback.format_exc())[-LOG_LIMIT:]
            payload = pickle.dumps(_Reply(ParseResult(error=error), output))
        _write_frame(channel_out, payload)


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


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


def _exit_status(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _StderrTail:
    """Drains a child's stderr as it arrives (a full pipe would stall the child) and keeps
    the last ``LOG_LIMIT`` bytes for the log."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._buffer = bytearray()
        self._changed = threading.Condition()
        self._last_write = 0.0
        self._thread = threading.Thread(target=self._pump, name="parser-stderr", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        fd = self._pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                chunk = b""
            with self._changed:
                if chunk:
                    self._buffer += chunk
                    del self._buffer[:-LOG_LIMIT]
                    self._last_write = time.monotonic()
                self._changed.notify_all()
            if not chunk:
                break
        with contextlib.suppress(OSError):
            self._pipe.close()

    def take(self) -> str:
        """What arrived since the last ``take``."""
        with self._changed:
            text = self._buffer.decode("utf-8", "replace")
            self._buffer.clear()
        return text

    def wait_settled(self, limit: float, quiet: float = 0.05) -> None:
        """Until something arrived and nothing more for ``quiet`` s, or ``limit`` s passed."""
        end = time.monotonic() + limit
        with self._changed:
            while (now := time.monotonic()) < end:
                if self._buffer and now - self._last_write >= quiet:
                    return
                self._changed.wait(min(quiet, end - now))

    def finish(self, limit: float = 2.0) -> str:
        """Everything left, once the child is gone (its end of the pipe closed)."""
        self._thread.join(limit)
        return self.take()


class _Slot:
    """One worker process, started on first use and restarted after a kill."""

    def __init__(self, memory_limit: int | None) -> None:
        self._memory_limit = memory_limit
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: _StderrTail | None = None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        if self._process is not None:
            died = self._process.returncode
            output = self._reap()
            log.warning(
                "a parser process had exited while idle (%s); starting another%s",
                _exit_status(died),
                f":\n{output}" if output.strip() else "",
            )
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter.sources._child", str(self._memory_limit or 0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
            close_fds=True,
        )
        assert process.stdout is not None and process.stderr is not None
        self._process, self._stderr = process, _StderrTail(process.stderr)
        fd = process.stdout.fileno()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        try:
            (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
            ready = _read_exact(fd, size, deadline) if size == len(READY) else b""
        except (_Timeout, EOFError, OSError):
            ready = b""
        if ready != READY:
            output = self.kill()
            log.error(
                "a parser process could not be started (%s)%s",
                _exit_status(process.returncode),
                f":\n{output}" if output.strip() else "",
            )
            raise _StartError
        return process

    def run(self, job: ParseJob, timeout: float) -> ParseResult:
        name = job.spec.name
        try:
            process = self._ensure()
        except _StartError:
            return ParseResult(error="the parser process could not be started (see the log)")
        assert process.stdin is not None and process.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            _write_frame(process.stdin, pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
            fd = process.stdout.fileno()
            (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
            reply = pickle.loads(_read_exact(fd, size, deadline + 5.0))
        except _Timeout:
            stack = self._stack_then_kill()
            log.warning(
                "parsing feed %s took longer than %g s; the parser was stopped%s",
                name,
                timeout,
                f" here:\n{stack}" if stack.strip() else "",
            )
            return ParseResult(
                error=f"parsing took longer than {timeout:g} s and was stopped "
                "(a pathological feed document)"
            )
        except (EOFError, OSError, pickle.UnpicklingError):
            output = self.kill()
            status = _exit_status(process.returncode)
            log.error(
                "the parser process died while parsing feed %s (%s)%s",
                name,
                status,
                f":\n{output}" if output.strip() else "; it wrote nothing to stderr",
            )
            return ParseResult(error=f"the parser process died on this document ({status})")
        if not isinstance(reply, _Reply):  # pragma: no cover - protocol guard
            self.kill()
            return ParseResult(error="the parser process returned garbage")
        self._log_output(name, reply)
        return reply.result

    def _log_output(self, name: str, reply: _Reply) -> None:
        if reply.output.strip():
            level = logging.ERROR if reply.result.error else logging.WARNING
            log.log(level, "parsing feed %s:\n%s", name, reply.output.rstrip())
        stray = self._stderr.take() if self._stderr is not None else ""
        if stray.strip():  # written outside Python's sys.stderr (a C library, say)
            log.warning("a parser process wrote to its stderr:\n%s", stray.rstrip())

    def _stack_then_kill(self) -> str:
        """Ask a hung child for its stack (faulthandler on SIGUSR1), then kill it."""
        process, tail = self._process, self._stderr
        if process is not None and tail is not None:
            tail.take()  # older output is not about this parse
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGUSR1)
                tail.wait_settled(STACK_WAIT)
        return self.kill()

    def kill(self) -> str:
        """Kill the child (if any); what it had written to stderr."""
        process = self._process
        if process is None:
            return ""
        with contextlib.suppress(OSError):
            process.kill()
        return self._reap()

    def _reap(self) -> str:
        process, self._process = self._process, None
        tail, self._stderr = self._stderr, None
        if process is None:
            return ""
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        self._close_pipes(process)
        return tail.finish() if tail is not None else ""

    def close_input(self) -> None:
        """EOF on the child's stdin: its loop ends after the parse in hand."""
        process = self._process
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def stop(self, grace: float) -> None:
        self.close_input()
        process = self._process
        if process is None:
            return
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()
        stray = self._reap()
        if stray.strip():
            log.warning("a parser process wrote to its stderr:\n%s", stray.rstrip())

    @staticmethod
    def _close_pipes(process: subprocess.Popen[bytes]) -> None:
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class ParserPool:
    """Parser processes shared by threads; thread-safe ``parse``.

    A slot's process starts on its first parse, so a pool that parses nothing costs
    nothing. ``grow`` adds slots (``fetch_feeds`` asks for as many as it may use).
    """

    def __init__(
        self, size: int = 1, *, timeout: float = 20.0, memory_limit: int | None = None
    ) -> None:
        self.timeout = timeout
        self._memory_limit = memory_limit
        self._slots: list[_Slot] = []
        # Last in, first out: a warm process is reused before an idle slot starts one.
        self._idle: queue.LifoQueue[_Slot] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.owner = os.getpid()
        self.grow(size)

    @property
    def size(self) -> int:
        return len(self._slots)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def grow(self, size: int) -> None:
        """At least ``size`` slots from now on (never fewer than one)."""
        with self._lock:
            while len(self._slots) < max(1, size):
                slot = _Slot(self._memory_limit)
                self._slots.append(slot)
                self._idle.put(slot)

    def pids(self) -> list[int]:
        """The process ids of the children running now (none until something is parsed)."""
        with self._lock:
            return [pid for slot in self._slots if (pid := slot.pid) is not None]

    def parse(self, job: ParseJob, timeout: float | None = None) -> ParseResult:
        """Parse ``job`` in a child within ``timeout`` seconds (default: the pool's)."""
        if self.closed:
            raise RuntimeError("parser pool is closed")
        slot = self._idle.get()
        try:
            return slot.run(job, self.timeout if timeout is None else timeout)
        finally:
            self._idle.put(slot)

    def close(self, grace: float = 2.0) -> None:
        """Stop every child: EOF first (they exit between parses), killed after ``grace``."""
        self._closed.set()
        with self._lock:
            slots = list(self._slots)
        for slot in slots:
            slot.close_input()
        for slot in slots:
            slot.stop(grace)

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: ParserPool | None = None
_shared_lock = threading.Lock()


def shared_pool(size: int) -> ParserPool:
    """The process's parser pool, with at least ``size`` slots; created on first use.

    Creating it starts no process. A pool inherited through ``fork`` belongs to the
    parent (its pipes are the parent's children), so a forked process gets its own.
    """
    global _shared
    with _shared_lock:
        pool = _shared
        if pool is None or pool.closed or pool.owner != os.getpid():
            pool = _shared = ParserPool(size)
        else:
            pool.grow(size)
        return pool


def close_shared_pool() -> None:
    """Stop the shared pool's children (at exit; also for tests that need a fresh pool)."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
    if pool is not None and pool.owner == os.getpid():
        pool.close()


atexit.register(close_shared_pool)
