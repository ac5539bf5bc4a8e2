"""The daemon's jobs against a real SQLite file and a real SMTP server, driven by an injected clock.

Fire times come from walking the real trigger; each fire is run the way the scheduler runs
it (``Daemon.fire``), with the clock set to that moment — no waiting for the wall clock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from newsletter.app import App
from newsletter.config import load_config, read_environment
from newsletter.logs import StructuredFormatter, format_line
from newsletter.records import Entry
from newsletter.run import store_entries
from newsletter.schedule import Daemon
from newsletter.schedule.timing import fire_times
from newsletter.store import Store
from tests.conftest import MAIN_YAML, Project, Sink, wait_for

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
SECRET = "s3cret-for-tests-0123456789"

SUBSCRIBERS = """\
subscribers:
  - email: alice@example.org
    timezone: Europe/Berlin
    topics: [{title: SSL, query: self-supervised}]
  - email: bob@example.org
    timezone: America/New_York
    topics: [{title: SSL, query: self-supervised}]
"""


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def configure(
    project: Project, sink: Sink, cron: str = "0 7 * * *", extra: str = "", feeds: bool = True
) -> None:
    main = MAIN_YAML.replace('"0 7 * * *"', f'"{cron}"') + extra
    if not feeds:  # papers come from add_paper; spares a parser pool per fire
        main = main.replace("feeds:\n  - name: sample\n    url: sample-feed.atom\n", "feeds: []\n")
    project.write(main, SUBSCRIBERS)
    project.env_file(
        SMTP_HOST=sink.host,
        SMTP_PORT=str(sink.port),
        SMTP_SECURITY="none",
        NEWSLETTER_SECRET=SECRET,
    )


def open_app(project: Project, clock: Clock) -> App:
    config = load_config(project.config)
    env = read_environment(project.root / ".env")
    return App(config=config, env=env, store=Store.open(config.database_url), clock=clock)


def make_daemon(project: Project, clock: Clock) -> Daemon:
    app = open_app(project, clock)
    daemon = Daemon(app, lambda: load_config(project.config))
    daemon.install_jobs()
    return daemon


def add_paper(app: App, n: int, at: datetime) -> None:
    """A fresh paper every subscriber's topic matches, first seen at ``at``."""
    entry = Entry(
        key=f"url:https://example.org/p{n}",
        title=f"Self-supervised trick number {n}",
        link=f"https://example.org/p{n}",
        published=at,
        abstract="A self-supervised method.",
        feeds=("sample",),
    )
    store_entries(app.store, [entry], now=at)


def drive(daemon: Daemon, clock: Clock, start: datetime, end: datetime, papers: bool) -> None:
    """Fire every group at each of its fire times in [start, end], in time order."""
    fires = sorted(
        (fire.astimezone(UTC), key)
        for key, group in daemon.groups.items()
        for fire in fire_times(group.trigger(), start, end)
    )
    for n, (fire, key) in enumerate(fires):
        if papers:
            add_paper(daemon.app, n, fire - timedelta(minutes=1))
        clock.now = fire + timedelta(seconds=2)
        daemon.fire(key)


def received(sink: Sink) -> list[tuple[str, str]]:
    """(recipient, Date header) of each message the SMTP server accepted."""
    return [(m["To"], m["Date"]) for m in sink.messages()]


@pytest.mark.parametrize(
    ("cron", "start", "tz_days"),
    [
        # Berlin springs forward 2026-03-29 and falls back 2026-10-25; New York 03-08 and 11-01.
        ("30 2 * * *", "2026-03-27", {"Europe/Berlin": "2026-03-29"}),
        ("30 2 * * *", "2026-10-23", {"Europe/Berlin": "2026-10-25"}),
        ("30 1 * * *", "2026-10-30", {"America/New_York": "2026-11-01"}),
        ("0 0 * * *", "2026-03-06", {"America/New_York": "2026-03-08"}),
    ],
)
def test_dst_days_give_each_subscriber_one_digest_per_local_day(
    project: Project, smtp_sink: Sink, cron: str, start: str, tz_days: dict[str, str]
) -> None:
    configure(project, smtp_sink, cron, feeds=False)
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    clock = Clock(begin)
    daemon = make_daemon(project, clock)
    drive(daemon, clock, begin, begin + timedelta(days=5), papers=True)

    runs = daemon.app.store.last_runs()
    assert set(runs) == {"daily@Europe/Berlin", "daily@America/New_York"}
    rows = daemon.app.store.outbox_rows()
    assert {r.status for r in rows} == {"sent"}
    for who, tz in (
        ("alice@example.org", "Europe/Berlin"),
        ("bob@example.org", "America/New_York"),
    ):
        mine = [r for r in rows if r.subscriber == who]
        local_days = [r.created_at.astimezone(__import__("zoneinfo").ZoneInfo(tz)) for r in mine]
        days = [d.date().isoformat() for d in local_days]
        assert len(days) == len(set(days)) == 5, (who, days)  # one a day, none skipped
        if tz in tz_days:
            assert tz_days[tz] in days
    assert len(smtp_sink.envelopes) == 10


def test_a_second_fire_in_the_repeated_hour_is_refused_by_the_run_key(
    project: Project, smtp_sink: Sink
) -> None:
    configure(project, smtp_sink, "30 2 * * *")
    clock = Clock(datetime(2026, 10, 25, 0, 30, 2, tzinfo=UTC))  # 02:30 CEST
    daemon = make_daemon(project, clock)
    add_paper(daemon.app, 1, clock.now - timedelta(hours=1))
    daemon.fire("daily@Europe/Berlin")
    assert daemon.last["daily@Europe/Berlin"].result.tally.composed == 1
    # Something fires 02:30 again an hour later (02:30 CET), with a new paper waiting.
    add_paper(daemon.app, 2, clock.now)
    clock.now += timedelta(hours=1)
    daemon.fire("daily@Europe/Berlin", datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    second = daemon.last["daily@Europe/Berlin"]
    assert (second.period, second.result.tally.composed) == ("2026-10-25", 0)
    assert smtp_sink.recipients() == ["alice@example.org"]


def test_each_time_zone_gets_its_digest_at_local_seven(project: Project, smtp_sink: Sink) -> None:
    configure(project, smtp_sink)
    begin = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    clock = Clock(begin)
    daemon = make_daemon(project, clock)
    drive(daemon, clock, begin, begin + timedelta(hours=23), papers=False)
    by_who = {r.subscriber: r.created_at for r in daemon.app.store.outbox_rows()}
    assert by_who == {
        "alice@example.org": datetime(2026, 11, 26, 6, 0, 2, tzinfo=UTC),  # 07:00 CET
        "bob@example.org": datetime(2026, 11, 26, 12, 0, 2, tzinfo=UTC),  # 07:00 EST
    }


def test_run_log_line_has_the_counts_and_duration(
    project: Project, smtp_sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    configure(project, smtp_sink)
    clock = Clock(datetime(2026, 11, 26, 6, 0, 5, tzinfo=UTC))
    daemon = make_daemon(project, clock)
    with caplog.at_level(logging.INFO, logger="newsletter.schedule"):
        daemon.fire("daily@Europe/Berlin")
    (record,) = [r for r in caplog.records if r.getMessage() == "run"]
    line = StructuredFormatter("key=value").format(record)
    for part in (
        "event=run",
        "schedule=daily@Europe/Berlin",
        "period=2026-11-26",
        "composed=1",
        "sent=1",
        "deferred=0",
        "failed=0",
        "status=done",
        "duration=",
    ):
        assert part in line, line
    as_json = __import__("json").loads(StructuredFormatter("json").format(record))
    assert as_json["event"] == "run" and as_json["sent"] == 1 and as_json["level"] == "info"
    assert as_json["fire_time"] == "2026-11-26T07:00:00+01:00"
    run = daemon.app.store.last_runs()["daily@Europe/Berlin"]
    assert run.status == "done" and run.tally.sent == 1


def test_format_line_quotes_only_what_needs_it() -> None:
    line = format_line(
        {"a": "plain", "b": "two words", "c": None, "d": True, "e": 1.23456}, "key=value"
    )
    assert line == 'a=plain b="two words" c=null d=true e=1.235'


# -- catch-up after downtime -------------------------------------------------------------


def start_and_wait(daemon: Daemon, sink: Sink, expected: int) -> None:
    daemon.start()
    try:
        wait_for(lambda: len(sink.envelopes) >= expected and daemon.idle.is_set(), timeout=20)
    finally:
        assert daemon.shutdown(timeout=20)


def test_catch_up_sends_a_missed_digest_once_and_not_again_after_restart(
    project: Project, smtp_sink: Sink
) -> None:
    configure(project, smtp_sink, extra='catch_up: "6h"\n')
    # Down over Berlin's 07:00 (06:00 UTC), back at 11:30 UTC: within the 6 h grace.
    # New York's 07:00 (12:00 UTC) is still ahead, so only Berlin catches up.
    clock = Clock(datetime(2026, 11, 26, 11, 30, tzinfo=UTC))
    daemon = make_daemon(project, clock)
    assert daemon.catch_up() == ["daily@Europe/Berlin"]
    daemon.scheduler.remove_all_jobs()
    start_and_wait(daemon, smtp_sink, 1)
    assert smtp_sink.recipients() == ["alice@example.org"]
    assert daemon.last["daily@Europe/Berlin"].period == "2026-11-26"

    clock.now += timedelta(minutes=20)
    again = make_daemon(project, clock)
    assert again.catch_up() == []  # the run key is in `runs`
    again.scheduler.remove_all_jobs()
    assert smtp_sink.recipients() == ["alice@example.org"]


def test_catch_up_leaves_a_digest_missed_beyond_the_grace(
    project: Project, smtp_sink: Sink
) -> None:
    configure(project, smtp_sink, extra='catch_up: "2h"\n')
    clock = Clock(datetime(2026, 11, 26, 8, 30, tzinfo=UTC))  # Berlin's 07:00 was 2.5 h ago
    daemon = make_daemon(project, clock)
    assert daemon.catch_up() == []
    assert daemon.app.store.last_runs() == {}


def test_two_daemons_on_one_sqlite_file_send_each_digest_once(
    project: Project, smtp_sink: Sink
) -> None:
    configure(project, smtp_sink)
    # One group (Berlin, 07:00 = 06:00 UTC), missed: both daemons catch it up at start.
    project.subscribers.write_text(SUBSCRIBERS.replace(NEW_YORK, BERLIN), encoding="utf-8")
    clock = Clock(datetime(2026, 11, 26, 6, 0, 3, tzinfo=UTC))
    first, second = make_daemon(project, clock), make_daemon(project, clock)
    assert first.app.store is not second.app.store  # two engines, one file
    gate = threading.Barrier(2)
    for daemon in (first, second):  # both claim the run key at the same moment
        original = daemon.app.store.claim_run

        def claim(*args: object, _original: object = original) -> int | None:
            gate.wait(timeout=10)
            return _original(*args)  # type: ignore[operator]

        daemon.app.store.claim_run = claim  # type: ignore[method-assign]
    first.start()
    second.start()
    try:
        wait_for(lambda: len(first.last) == 1 and len(second.last) == 1, timeout=30)
    finally:
        assert first.shutdown(20) and second.shutdown(20)
    key = "daily@Europe/Berlin"
    runs = (first.last[key], second.last[key])
    assert sorted(r.result.tally.composed for r in runs) == [0, 2]  # one claimed, one refused
    assert {r.period for r in runs} == {"2026-11-26"}
    # Either daemon's outbox drain may send a composed row before the composing run's own
    # sender claims it (seen once under load): each digest is still sent exactly once.
    assert sum(r.result.tally.sent for r in runs) <= 2
    assert sorted(smtp_sink.recipients()) == ["alice@example.org", "bob@example.org"]
    store = Store.open(load_config(project.config).database_url)
    assert store.outbox_counts() == {"sent": 2}
    store.close()


def test_reload_keeps_the_old_config_when_the_new_one_is_invalid(
    project: Project, smtp_sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    configure(project, smtp_sink)
    daemon = make_daemon(project, Clock(datetime(2026, 11, 26, 1, 0, tzinfo=UTC)))
    daemon.scheduler.start(paused=True)  # jobs are replaced only in a started scheduler
    before = {job.id for job in daemon.scheduler.get_jobs()}
    project.config.write_text(MAIN_YAML.replace('"0 7 * * *"', '"0 25 * * *"'), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="newsletter.schedule"):
        assert daemon.reload() is False
    rejected = [r for r in caplog.records if r.getMessage() == "reload_rejected"]
    assert "newsletter.yaml:9: schedules.daily: bad cron" in rejected[0].fields["problems"]  # type: ignore[attr-defined]
    assert {job.id for job in daemon.scheduler.get_jobs()} == before

    project.config.write_text(
        MAIN_YAML.replace('  daily: "0 7 * * *"\n', '  daily: "0 9 * * *"\n'), encoding="utf-8"
    )
    assert daemon.reload() is True
    job = daemon.scheduler.get_job("digest:daily@Europe/Berlin")
    assert job.trigger.cron == "0 9 * * *"
    assert job.misfire_grace_time == 6 * 3600 and job.coalesce
    assert str(job.trigger.zone) == "Europe/Berlin"
    daemon.shutdown()


def test_feeds_are_fetched_on_their_own_interval(project: Project) -> None:
    project.write(
        MAIN_YAML.replace(
            "    url: sample-feed.atom\n",
            "    url: sample-feed.atom\n  - name: slow\n    url: sample-feed.atom\n"
            "    fetch_every: 6h\n",
        )
        + "fetch_every: 15m\n",
        SUBSCRIBERS,
    )
    clock = Clock(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
    daemon = make_daemon(project, clock)
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert jobs["fetch:900s"].args == (("sample",),)
    assert jobs["fetch:21600s"].args == (("slow",),)
    daemon.fetch(("slow",))
    rows = daemon.app.store.stored_feeds()
    assert set(rows) == {"slow"} and rows["slow"].last_fetch == clock.now
    assert daemon.app.store.entry_count() == 80


def test_shutdown_says_when_the_job_in_flight_outlives_the_timeout(
    project: Project, smtp_sink: Sink
) -> None:
    configure(project, smtp_sink)
    daemon = make_daemon(project, Clock(datetime(2026, 11, 26, 1, 0, tzinfo=UTC)))
    release = threading.Event()
    daemon.scheduler.start()
    daemon.scheduler.add_job(daemon._guarded, args=(release.wait,), id="slow")
    wait_for(lambda: not daemon.idle.is_set())
    assert daemon.shutdown(timeout=0.2) is False
    release.set()
    wait_for(daemon.idle.is_set)
    ran_after_stop: list[int] = []
    daemon._guarded(lambda: ran_after_stop.append(1))
    assert ran_after_stop == []  # no new work once stopping
