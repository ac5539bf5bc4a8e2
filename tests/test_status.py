"""`newsletter status`: next runs, last outcomes, feeds in error, outbox counts, exit code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from newsletter.cli import main
from newsletter.records import HealthStatus
from newsletter.run import fetch_and_store
from newsletter.schedule import collect_status
from tests.conftest import MAIN_YAML, HttpFiles, Project, Sink
from tests.smtp_sink import Sink as ScriptedSink
from tests.smtp_sink import smtp_server
from tests.test_schedule_daemon import SUBSCRIBERS, Clock, configure, make_daemon, open_app

EMPTY_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Quiet</title><id>urn:quiet</id>
<updated>2026-11-20T00:00:00Z</updated></feed>"""


def status(project: Project, at: datetime, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["status", "--config", str(project.config)], clock=lambda: at)
    return code, capsys.readouterr().out


def test_status_after_a_good_run_is_healthy_and_shows_next_and_last_runs(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(project, smtp_sink)
    clock = Clock(datetime(2026, 11, 26, 6, 0, 2, tzinfo=UTC))
    daemon = make_daemon(project, clock)
    daemon.fire("daily@Europe/Berlin")
    daemon.app.store.close()

    code, out = status(project, datetime(2026, 11, 26, 9, 0, tzinfo=UTC), capsys)
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if "@" in line.split(" ")[0]}
    assert "2026-11-27 07:00 CET" in lines["daily@Europe/Berlin"]
    assert "2026-11-26: done (1 composed, 1 sent, 0 deferred, 0 failed)" in out
    assert "2026-11-26 07:00 EST" in lines["daily@America/New_York"]  # still ahead today
    assert "never run" in lines["daily@America/New_York"]
    assert "sample" in out and "ok" in out
    assert "Outbox: 1 sent" in out
    assert "All well." in out


def test_a_digest_due_but_not_run_needs_attention(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(project, smtp_sink)
    code, out = status(project, datetime(2026, 11, 26, 6, 30, tzinfo=UTC), capsys)
    assert code == 1
    assert "daily@Europe/Berlin: 2026-11-26 was due at 2026-11-26 07:00 CET and has not run" in out
    # Beyond the catch-up grace it is history, not something a restart would fix.
    code, out = status(project, datetime(2026, 11, 26, 12, 1, tzinfo=UTC), capsys)
    assert "Europe/Berlin: 2026-11-26 was due" not in out


def feeds_yaml(base: str) -> str:
    return MAIN_YAML.replace(
        "  - name: sample\n    url: sample-feed.atom\n",
        f"  - name: broken\n    url: {base}/missing.xml\n"
        f"  - name: quiet\n    url: {base}/quiet.xml\n",
    )


def test_a_feed_failing_three_times_needs_attention_a_quiet_one_does_not(
    project: Project, http_files: HttpFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    http_files.files["/quiet.xml"] = (EMPTY_FEED, "application/atom+xml")
    project.write(feeds_yaml(http_files.base), SUBSCRIBERS)
    at = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    app = open_app(project, Clock(at))
    for n in range(3):
        app = dataclasses.replace(app, clock=Clock(at + timedelta(minutes=n)))
        fetch_and_store(app.config, app.store, app.store, now=app.clock, force=True)
        report = collect_status(app)
        health = {f.name: f.health for f in report.feeds}
        assert str(health["quiet"]) == "quiet (no new entries)"
        assert (health["broken"].status is HealthStatus.FAILING) == (n == 2), health
    app.store.close()
    code, out = status(project, at + timedelta(minutes=5), capsys)
    assert code == 1
    assert (
        "feed broken: failing since 2026-11-26 05:00 UTC (3 failed fetches in a row): HTTP 404"
        in out
    )
    assert "feed quiet" not in out.split("Needs attention")[1]


def test_deferred_messages_need_attention(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    class Busy(ScriptedSink):
        async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
            return "451 4.3.0 try again later"

    busy = Busy()
    with smtp_server(busy):
        configure(project, busy)
        daemon = make_daemon(project, Clock(datetime(2026, 11, 26, 6, 0, 2, tzinfo=UTC)))
        daemon.fire("daily@Europe/Berlin")
        assert daemon.last["daily@Europe/Berlin"].status == "incomplete"
        daemon.app.store.close()
    code, out = status(project, datetime(2026, 11, 26, 6, 5, tzinfo=UTC), capsys)
    assert code == 1
    assert "Outbox: 1 deferred" in out
    assert "1 messages deferred" in out
    assert "last run 2026-11-26 ended incomplete (1 deferred, 0 failed)" in out
