"""`newsletter run` as a real process: SIGTERM during a send, SIGHUP with a broken config.

The daemon runs on the real clock; it has work at once because the cron fires every minute
and the catch-up sends the fire that just passed. Nothing waits for a wall-clock minute.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from newsletter.config import load_config
from newsletter.store import Store
from tests.conftest import MAIN_YAML, Project, subprocess_env
from tests.smtp_sink import Sink, smtp_server

SECRET = "s3cret-for-tests-0123456789"
EXIT_WITHIN = 20.0

MANY = "subscribers:\n" + "".join(
    f"  - email: reader{n}@example.org\n    topics: [{{title: SSL, query: self-supervised}}]\n"
    for n in range(8)
)


class SlowSink(Sink):
    """Holds each DATA reply for a while, and says when the first one is being held."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.in_data = threading.Event()

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        self.in_data.set()
        await asyncio.sleep(self.delay)
        return None


class Daemon:
    """A `python -m newsletter run` child process whose stderr lines are collected."""

    def __init__(self, project: Project, port: int) -> None:
        env = subprocess_env()
        env.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(port),
            SMTP_SECURITY="none",
            NEWSLETTER_SECRET=SECRET,
            PYTHONPATH=os.getcwd() + os.pathsep + env.get("PYTHONPATH", ""),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "run", "--config", str(project.config)],
            cwd=project.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, needle: str, timeout: float = 30.0, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if needle in line:
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {needle!r}; got:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=EXIT_WITHIN)
        self._reader.join(timeout=5)
        return code


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def test_sigterm_during_a_send_finishes_the_message_in_flight_and_exits_0(
    project: Project, daemons: list[Daemon]
) -> None:
    project.write(MAIN_YAML.replace('"0 7 * * *"', '"* * * * *"'), MANY)
    project.feed_for_real_clock()
    sink = SlowSink(delay=1.5)
    with smtp_server(sink) as port:
        daemon = Daemon(project, port)
        daemons.append(daemon)
        assert sink.in_data.wait(timeout=60), "\n".join(daemon.lines)
        daemon.proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        code = daemon.proc.wait(timeout=EXIT_WITHIN)
        took = time.monotonic() - began
        daemon._reader.join(timeout=5)
    assert code == 0, "\n".join(daemon.lines)
    assert took < 10
    text = "\n".join(daemon.lines)
    assert "event=stopping signal=SIGTERM busy=true" in text
    assert "event=stopped clean=true" in text
    assert "status=interrupted" in daemon.wait_line("event=run ")

    store = Store.open(load_config(project.config).database_url)
    try:
        rows = store.outbox_rows()
        sent = sorted(r.subscriber for r in rows if r.status == "sent")
        assert len(rows) == 8  # every digest was composed before the first send
        assert sent and sent == sorted(rcpt for rcpt, _ in sink.received)  # in flight: recorded
        assert len(sent) < 8  # and nothing new was started after SIGTERM
        assert {r.status for r in rows} - {"sent"} <= {"sending", "pending"}
    finally:
        store.close()


def test_sighup_with_a_broken_config_keeps_running_then_a_good_one_is_picked_up(
    project: Project, daemons: list[Daemon]
) -> None:
    yearly = MAIN_YAML.replace('"0 7 * * *"', '"0 0 1 1 *"')
    project.write(yearly + 'catch_up: "1m"\n')
    with smtp_server(Sink()) as port:
        daemon = Daemon(project, port)
        daemons.append(daemon)
        daemon.wait_line("event=started")

        project.config.write_text(
            yearly.replace("schedules:\n", "schedules:\n  weekly: every monday\n"),
            encoding="utf-8",
        )
        mark = len(daemon.lines)
        daemon.proc.send_signal(signal.SIGHUP)
        line = daemon.wait_line("event=reload_rejected", after=mark)
        assert "newsletter.yaml:9:" in line and "'every monday' is not a 5-field cron" in line
        assert daemon.proc.poll() is None

        project.config.write_text(
            yearly.replace("schedules:\n", 'schedules:\n  weekly: "0 8 * * 1"\n')
            + "log_format: json\n",
            encoding="utf-8",
        )
        project.subscribers.write_text(
            MANY.replace("    topics:", "    schedule: weekly\n    topics:", 1), encoding="utf-8"
        )
        mark = len(daemon.lines)
        daemon.proc.send_signal(signal.SIGHUP)
        line = daemon.wait_line('"event":"reloaded"', after=mark)
        assert "digest:weekly@UTC" in line and "digest:daily@UTC" in line
        assert daemon.stop() == 0
    assert '"event":"stopped"' in daemon.lines[-1]
