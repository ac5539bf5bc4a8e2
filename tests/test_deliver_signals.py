"""SIGTERM in the middle of a 500-message `send`: the messages in flight finish, every other
claimed row goes back to pending at once, and a `send` on another host sends the rest
without waiting for a lease — each reader getting their digest once (at most one
duplicate per open SMTP connection). Both backends."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections import Counter
from typing import Any

import pytest

from newsletter.cli import main
from newsletter.clock import system_clock
from newsletter.records import OutboxStatus
from tests.conftest import Project, subprocess_env
from tests.smtp_sink import Sink, smtp_server
from tests.test_deliver_refusals import outbox
from tests.test_outbox import many_subscribers, use_sink

COUNT = 500
CONNECTIONS = 2


class Gated(Sink):
    """Accepts ``open_after`` messages, then holds every DATA answer until ``gate`` opens:
    the test knows a message is in flight when it sends the signal."""

    def __init__(self, open_after: int) -> None:
        super().__init__()
        self.open_after = open_after
        self.gate = threading.Event()
        self.held = 0

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        with self.lock:
            hold = len(self.received) >= self.open_after and not self.gate.is_set()
            self.held += hold
        if hold:
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 60)
        return None


@pytest.mark.slow
def test_sigterm_mid_send_then_another_host_sends_the_rest_at_once(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(subscribers=many_subscribers(COUNT))
    project.feed_for_real_clock()
    sink = Gated(open_after=120)
    env = subprocess_env()
    command = project.send_command()
    with smtp_server(sink) as port:
        use_sink(project, port, SMTP_CONNECTIONS=str(CONNECTIONS))
        proc = subprocess.Popen(
            command, cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 240
            while sink.held < 1:  # a message is in flight, its answer held back
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "send made no progress"
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)  # let the signal land while the answers are still held
            sink.gate.set()
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            sink.gate.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 1, stderr.decode()
        assert b"Stopped before the outbox was empty" in stdout
        first = len(sink.received)
        assert sink.open_after <= first < COUNT
        rows = outbox(project).values()
        # Nothing is left leased: the messages in flight were recorded, the rest released.
        assert not [row for row in rows if row.status is OutboxStatus.SENDING]
        waiting = [row for row in rows if row.status is OutboxStatus.PENDING]
        # Every message composed before the stop is sent or waiting (a stop during
        # composing leaves the rest uncomposed: the next send composes them).
        assert len(waiting) == len(rows) - first
        assert {row.attempts for row in waiting} == {0}

        # Another machine (another lease owner): its send needs no lease to expire.
        monkeypatch.setattr("newsletter.run.deliver.HOST", "another-host")
        capsys.readouterr()
        code = main(["send", "--no-fetch", "--config", str(project.config)], clock=system_clock)
        assert code == 0, capsys.readouterr()
    per_reader = Counter(recipient for recipient, _ in sink.received)
    assert len(per_reader) == COUNT
    duplicates = sum(n - 1 for n in per_reader.values())
    assert duplicates <= CONNECTIONS
    assert {row.status for row in outbox(project).values()} == {OutboxStatus.SENT}
