"""A large run delivers from a process of its own: same guarantees, real aiosmtpd, both backends."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from newsletter.app import App
from newsletter.records import OutboxStatus, SuppressionReason
from newsletter.run import DigestRun, OutboxSink, RunOptions, send_with_workers
from newsletter.run.delivery_process import (
    DELIVERY_PROCESS_MIN,
    DeliveryProcessError,
    shareable,
)
from tests.conftest import NOW, Project, Sink, subprocess_env
from tests.smtp_sink import smtp_server
from tests.test_send import smtp_env
from tests.test_workers import many_subscribers, open_app


def test_a_large_send_delivers_from_its_own_process_each_digest_once(
    project: Project, smtp_sink: Sink
) -> None:
    count = DELIVERY_PROCESS_MIN + 20
    project.write(subscribers=many_subscribers(count))
    smtp_env(project, smtp_sink)
    app = open_app(project, NOW)
    try:
        result = send_with_workers(app, 1)
        rows = app.store.outbox_rows()
    finally:
        app.store.close()
    assert result.processes == 2 and result.delivery_peak_rss_kib > 0
    assert result.complete and result.tally.composed == result.tally.sent == count
    assert Counter(smtp_sink.recipients()) == {f"reader{i}@example.org": 1 for i in range(count)}
    assert {row.status for row in rows} == {OutboxStatus.SENT}


def test_a_small_run_or_a_clock_that_cannot_cross_processes_keeps_delivery_in_a_thread(
    project: Project, smtp_sink: Sink
) -> None:
    project.write(subscribers=many_subscribers(DELIVERY_PROCESS_MIN))
    smtp_env(project, smtp_sink)
    app = open_app(project, NOW)
    try:
        sink = OutboxSink(app.store, app.store)
        assert DigestRun(app, sink).delivers_from_a_process()
        assert not DigestRun(
            app, sink, RunOptions(delivery_process=False)
        ).delivers_from_a_process()
        unpicklable = replace(app, clock=lambda: NOW)
        assert not DigestRun(unpicklable, sink).delivers_from_a_process()
        smaller = app.with_config(replace(app.config, subscribers=app.config.subscribers[:-1]))
        assert not DigestRun(smaller, sink).delivers_from_a_process()
    finally:
        app.store.close()
    assert not shareable("sqlite://") and not shareable("sqlite:///:memory:")
    assert shareable("sqlite:////var/lib/newsletter/state.db")


class RefuseReader3(Sink):
    """550 5.1.1 for reader3 (no such user), everyone else accepted."""

    def rcpt_reply(self, recipient: str) -> str | None:
        return "550 5.1.1 no such user" if recipient.startswith("reader3@") else None


def test_refusals_in_the_delivery_process_are_counted_and_suppress_the_address(
    project: Project,
) -> None:
    project.write(subscribers=many_subscribers(8))
    sink = RefuseReader3()
    with smtp_server(sink):
        smtp_env(project, sink)
        app = open_app(project, NOW)
        try:
            run = DigestRun(
                app, OutboxSink(app.store, app.store), RunOptions(delivery_process=True)
            )
            result = run.execute()
            suppressed = app.store.suppressions()
        finally:
            app.store.close()
    assert result.processes == 2
    assert (result.tally.sent, result.tally.failed) == (7, 1)
    assert [t.recipient for t in result.tally.troubles] == ["reader3@example.org"]
    assert "5.1.1" in result.tally.troubles[0].reason
    assert suppressed["reader3@example.org"].reason is SuppressionReason.BOUNCE_HARD
    assert len(sink.recipients()) == 7


class Slow(Sink):
    """Takes 0.2 s per message, and tells when the first one arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.first = threading.Event()

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        self.first.set()
        await asyncio.sleep(0.2)
        return None


@contextmanager
def slow_relay(project: Project, count: int) -> Iterator[tuple[App, Slow]]:
    """``count`` subscribers, a relay that takes 0.2 s a message, and the app to send with."""
    project.write(subscribers=many_subscribers(count))
    sink = Slow()
    with smtp_server(sink):
        smtp_env(project, sink)
        app = open_app(project, NOW)
        try:
            yield app, sink
        finally:
            app.store.close()


def test_a_stop_reaches_the_delivery_process_and_the_next_send_finishes_the_work(
    project: Project,
) -> None:
    count = 40
    with slow_relay(project, count) as (app, sink):
        stop = threading.Event()
        run = DigestRun(
            app, OutboxSink(app.store, app.store), RunOptions(delivery_process=True), stop=stop
        )
        threading.Thread(target=lambda: sink.first.wait(30) and stop.set()).start()
        first = run.execute()
        after_stop = Counter(row.status for row in app.store.outbox_rows())
        second = send_with_workers(app, 1, RunOptions(fetch=False))
    assert first.stopped and 0 < first.tally.sent < count
    # Nothing is left claimed by the stopped process: unsent rows are back to pending.
    assert set(after_stop) <= {OutboxStatus.SENT, OutboxStatus.PENDING}
    assert after_stop[OutboxStatus.SENT] == first.tally.sent
    assert second.tally.sent == count - first.tally.sent
    assert Counter(sink.recipients()) == {f"reader{i}@example.org": 1 for i in range(count)}


def test_a_killed_delivery_process_fails_the_send_and_the_next_send_delivers_the_rest(
    project: Project,
) -> None:
    count = 30
    with slow_relay(project, count) as (app, sink):

        def kill_delivery() -> None:
            sink.first.wait(30)
            for child in multiprocessing.active_children():
                if child.name == "newsletter-delivery" and child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)

        threading.Thread(target=kill_delivery).start()
        run = DigestRun(app, OutboxSink(app.store, app.store), RunOptions(delivery_process=True))
        with pytest.raises(DeliveryProcessError) as failed:
            run.execute()
        second = send_with_workers(app, 1, RunOptions(fetch=False))
        rows = app.store.outbox_rows()
    assert failed.value.exit_status == 1 and "run send again" in str(failed.value)
    assert second.complete and {row.status for row in rows} == {OutboxStatus.SENT}
    received = Counter(sink.recipients())
    assert set(received) == {f"reader{i}@example.org" for i in range(count)}
    # The one duplicate window: accepted by the relay, not yet recorded (2 connections).
    assert sum(received.values()) - count <= 2


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as status:
                fields = dict(line.split(":\t", 1) for line in status if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            return "zombie" not in status.read()
    except OSError:
        return False


@pytest.mark.slow
def test_a_killed_composer_leaves_no_delivery_process_behind(project: Project) -> None:
    """SIGKILL of `send` while it delivers: its delivery process notices, releases its rows
    and exits (it used to wait for batches forever); the next send delivers the rest."""
    import subprocess
    import time

    from tests.test_outbox import use_sink

    count = DELIVERY_PROCESS_MIN + 20
    project.write(subscribers=many_subscribers(count))
    project.feed_for_real_clock()
    sink = SlowDelivery(delay=0.2)
    env = subprocess_env()
    command = project.send_command()
    with smtp_server(sink) as port:
        use_sink(project, port, SMTP_CONNECTIONS="2")
        proc = subprocess.Popen(
            command, cwd=project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while not sink.received:  # the first batch is out; the composer is still at work
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "send made no progress"
            time.sleep(0.01)
        children = _children(proc.pid)
        assert children, "no delivery process found"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10  # delivering what it had claimed would take ~20 s
        while any(_alive(pid) for pid in children):
            assert time.monotonic() < deadline, "the delivery process outlived its composer"
            time.sleep(0.05)
        sink.delay = 0
        finished = subprocess.run(
            command, cwd=project.root, env=env, capture_output=True, text=True, timeout=300
        )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    per_reader = Counter(recipient for recipient, _ in sink.received)
    assert len(per_reader) == count
    assert sum(n - 1 for n in per_reader.values()) <= 2  # one in flight per connection


class SlowDelivery(Sink):
    """Holds each DATA reply for ``delay`` seconds, so a send is caught mid-delivery."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        await asyncio.sleep(self.delay)
        return None
