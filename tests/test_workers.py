"""`send --workers N`: many senders, each digest delivered once — also when one is killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from newsletter import report
from newsletter.app import App, load_checked_config
from newsletter.cli import main
from newsletter.config import read_environment
from newsletter.run import (
    Audience,
    DigestRun,
    OutboxSink,
    RunOptions,
    RunResult,
    partition_of,
    send_with_workers,
)
from newsletter.store import Store
from tests.conftest import NOW, Project, Sink, wait_for
from tests.test_send import smtp_env


@dataclass(frozen=True)
class FixedClock:
    """A clock that pickles, so spawned workers read the same time as the test."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at


def many_subscribers(count: int) -> str:
    lines = [
        "topics:",
        "  ssl:",
        "    title: Self-supervised learning",
        '    query: self-supervised OR "contrastive learning"',
        "  speech:",
        "    title: Speech synthesis",
        "    query: speech AND (synthesis OR TTS OR generation)",
        "subscribers:",
    ]
    for i in range(count):
        lines += [f"  - email: reader{i}@example.org", "    schedule: daily"]
        lines.append(f"    topics: [{'ssl' if i % 2 else 'speech'}]")
    return "\n".join(lines) + "\n"


def open_app(project: Project, at: datetime) -> App:
    config = load_checked_config(project.config)
    env = read_environment(project.root / ".env")
    return App(config=config, env=env, store=Store.open(config.database_url), clock=FixedClock(at))


def compose_only(app: App) -> int:
    """Compose a manual run into the outbox (no fetch, no delivery); how many were written."""
    run = DigestRun(app, OutboxSink(app.store, app.store), RunOptions(fetch=False, deliver=False))
    run.check()
    run.compose()
    return run.result.tally.composed


def partition_size(app: App, index: int, count: int) -> int:
    return len(Audience(partition=(index, count)).select(app.config.subscribers, ()))


def test_partitions_cover_every_subscriber_once_whatever_the_case() -> None:
    emails = [f"Person{i}@Example.org" for i in range(1000)]
    counts = Counter(partition_of(e, 4) for e in emails)
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 150
    assert all(partition_of(e, 4) == partition_of(e.lower(), 4) for e in emails)


def test_several_sends_composing_at_once_write_each_subscriber_once(
    project: Project, smtp_sink: Sink
) -> None:
    project.write(subscribers=many_subscribers(60))
    smtp_env(project, smtp_sink)
    app = open_app(project, NOW)
    DigestRun(app, OutboxSink(app.store, app.store)).fetch()
    results: list[int] = []
    lock = threading.Lock()

    def one_send(_: int) -> None:
        composed = compose_only(app)  # each call is a manual run of its own
        with lock:
            results.append(composed)

    threads = [threading.Thread(target=one_send, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = Counter(row.subscriber for row in app.store.outbox_rows())
    app.store.close()
    assert len(rows) == 60 and set(rows.values()) == {1}
    assert sum(results) == 60


@pytest.mark.sqlite_only
def test_workers_on_sqlite_use_one_process_and_say_so(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_env(project, smtp_sink)
    assert main(["send", "--workers", "3", "--config", str(project.config)], clock=lambda: NOW) == 0
    err = capsys.readouterr().err
    assert "several processes need PostgreSQL" in err and "6 SMTP connections" in err
    assert sorted(smtp_sink.recipients()) == ["alice@example.org", "bob@example.org"]


def test_workers_option_rejects_nonsense(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["send", "--workers", "0", "--config", str(project.config)])
    assert "at least 1" in capsys.readouterr().err


@pytest.fixture
def postgres_project(project: Project) -> Project:
    if not project.database.startswith("postgresql"):
        pytest.skip("several worker processes need PostgreSQL")
    return project


def test_worker_processes_on_postgres_deliver_each_digest_once(
    postgres_project: Project, smtp_sink: Sink
) -> None:
    project = postgres_project
    project.write(subscribers=many_subscribers(40))
    smtp_env(project, smtp_sink)
    app = open_app(project, NOW)
    outcome = send_with_workers(app, 3)
    assert isinstance(outcome, RunResult) and outcome.complete
    assert [w.exitcode for w in outcome.workers] == [0, 0, 0]
    assert sorted(w.tally.composed for w in outcome.workers) == sorted(
        partition_size(app, i, 3) for i in range(3)
    )
    assert all(w.peak_rss_kib > 10_000 for w in outcome.workers)
    received = Counter(smtp_sink.recipients())
    assert len(received) == 40 and set(received.values()) == {1}
    assert outcome.tally.sent == 40
    again = send_with_workers(app, 3, RunOptions(fetch=False))
    assert (again.tally.composed, again.tally.sent) == (0, 0)
    app.store.close()


def test_more_workers_than_cores_say_one_is_likely_faster(
    postgres_project: Project, smtp_sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = postgres_project
    project.write(subscribers=many_subscribers(10))
    smtp_env(project, smtp_sink)
    app = open_app(project, NOW)
    try:
        monkeypatch.setattr("newsletter.run.workers.usable_cores", lambda: 8)
        fits = send_with_workers(app, 2)
        monkeypatch.setattr("newsletter.run.workers.usable_cores", lambda: 1)
        crowded = send_with_workers(app, 2, RunOptions(fetch=False))
    finally:
        app.store.close()
    assert not any("CPU core" in note for note in fits.notes)
    assert any("--workers 2 on 1 CPU core(s)" in note for note in crowded.notes)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_usable_cores_are_those_this_process_may_run_on() -> None:
    import subprocess
    import sys

    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from newsletter.run.workers import usable_cores; print(usable_cores())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "1", done.stderr


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing_and_repeats_at_most_its_open_sessions(
    postgres_project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    """4 processes, 2,000 subscribers, one SIGKILLed mid-delivery, then a second send."""
    project = postgres_project
    subscribers = 2000
    project.write(subscribers=many_subscribers(subscribers))
    smtp_env(project, smtp_sink)
    app = open_app(project, NOW)
    first: list[RunResult] = []
    runner = threading.Thread(target=lambda: first.append(send_with_workers(app, 4)))
    runner.start()
    wait_for(lambda: len(smtp_sink.envelopes) >= subscribers // 4, timeout=120)
    victims = [p for p in multiprocessing.active_children() if p.name.startswith("newsletter-")]
    assert victims, "the workers finished before the test could kill one"
    assert victims[0].pid is not None
    os.kill(victims[0].pid, signal.SIGKILL)
    runner.join(timeout=180)
    assert first and not first[0].complete
    assert any(w.exitcode == -signal.SIGKILL for w in first[0].workers)
    report.print_send(first[0])
    assert "was killed by signal 9" in capsys.readouterr().err
    app.store.close()

    # The dead worker's claimed rows wait for their lease (10 minutes) to expire.
    later = open_app(project, NOW + timedelta(minutes=11))
    second = send_with_workers(later, 4, RunOptions(fetch=False))
    assert second.complete
    rows = later.store.outbox_rows()
    later.store.close()
    assert Counter(row.status for row in rows) == {"sent": subscribers}
    assert len({row.subscriber for row in rows}) == subscribers
    received = Counter(smtp_sink.recipients())
    assert len(received) == subscribers
    repeated = sum(n - 1 for n in received.values())
    # At most one message per SMTP session the killed worker had open (2 by default).
    assert repeated <= 2
    print(f"\nkilled worker: {subscribers} subscribers, {repeated} repeated digest(s)")
