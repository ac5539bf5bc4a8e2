"""``subscribers`` (list, --json, export, import, remove) and how web and imported subscribers
reach runs and the daemon — over a real store (SQLite and PostgreSQL) and a real SMTP server."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsletter.app import App
from newsletter.cli import main
from newsletter.config import load_config, read_environment
from newsletter.records import SubscriberOrigin, SuppressionReason
from newsletter.store import Store
from newsletter.store.records import Choice, StoredSubscriber
from tests.conftest import NOW, Project, Sink
from tests.test_schedule_daemon import Clock, add_paper, configure, make_daemon
from tests.test_send import smtp_env

HEADER = "email,name,topics,schedule,timezone\n"


def run(project: Project, *args: str, now: datetime = NOW) -> int:
    return main([*args, "--config", str(project.config)], clock=lambda: now)


def listing(
    project: Project, capsys: pytest.CaptureFixture[str], now: datetime = NOW
) -> dict[str, dict[str, Any]]:
    capsys.readouterr()
    assert run(project, "subscribers", "--json", now=now) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {row["email"]: row for row in rows}


def write_csv(project: Project, text: str) -> Path:
    path = project.root / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_makes_active_subscribers_that_the_next_send_delivers_to(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_env(project, smtp_sink)
    path = write_csv(
        project,
        HEADER + "Zed@Example.org,Zed Z,ssl;speech,daily,Asia/Tokyo\nalice@example.org,,speech,,\n",
    )
    assert run(project, "subscribers", "import", str(path)) == 0
    out = capsys.readouterr().out
    assert "1 added" in out and "alice@example.org" in out  # YAML wins, said so
    rows = listing(project, capsys)
    assert rows["zed@example.org"]["origin"] == "import"
    assert rows["zed@example.org"]["status"] == "active"
    assert rows["zed@example.org"]["topic_ids"] == ["ssl", "speech"]
    assert rows["alice@example.org"]["origin"] == "config"
    assert rows["alice@example.org"]["topic_ids"] == ["ssl"]  # the CSV row changed nothing
    for key in ("suppressed_reason", "suppressed_at", "paused_until", "last_digest", "name"):
        assert key in rows["zed@example.org"]
    capsys.readouterr()
    assert run(project, "match", "--subscriber", "zed@example.org") == 0
    assert "Self-supervised learning" in capsys.readouterr().out  # the library topic's title
    assert run(project, "send") == 0
    assert "zed@example.org" in smtp_sink.recipients()


def test_a_bad_file_imports_nothing_and_names_every_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(
        project,
        HEADER
        + "ok@example.org,,ssl,daily,UTC\n"
        + "jöhn@example.org,,ssl,daily,UTC\n"
        + "x@example.org,,nope,hourly,Mars/Base\n"
        + "ok@example.org,,ssl,daily,UTC\n",
    )
    assert run(project, "subscribers", "import", str(path)) == 2
    err = capsys.readouterr().err
    assert f"{path}:3:" in err and f"{path}:4:" in err and f"{path}:5:" in err
    assert "unknown topic 'nope'" in err and "unknown schedule 'hourly'" in err
    assert "Mars/Base" in err and "also on line 2" in err
    assert "ok@example.org" not in listing(project, capsys)
    missing = write_csv(project, "email,name\nok@example.org,Ok\n")
    assert run(project, "subscribers", "import", str(missing)) == 2
    assert "the header lacks topics, schedule, timezone" in capsys.readouterr().err


def test_import_with_confirm_mails_and_keeps_them_pending_until_confirmed(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_env(project, smtp_sink)
    assert run(project, "send") == 0  # the papers are stored now, before anyone signs up
    day = timedelta(days=1)
    path = write_csv(project, HEADER + "pat@example.org,Pat,ssl,daily,UTC\n")
    capsys.readouterr()
    assert run(project, "subscribers", "import", str(path), "--confirm", now=NOW + day / 24) == 0
    assert "1 sent" in capsys.readouterr().out
    mail = smtp_sink.messages()[-1]
    assert "pat@example.org" in mail["To"] and "Confirm" in mail["Subject"]
    assert listing(project, capsys)["pat@example.org"]["status"] == "pending"
    assert run(project, "send", now=NOW + day) == 0
    assert smtp_sink.recipients().count("pat@example.org") == 1  # a pending address: no digest
    store = Store.open(load_config(project.config).database_url)
    assert store.confirm_signup(
        "pat@example.org", issued_before=NOW + day, now=NOW + day, client=None
    )
    store.close()
    # confirmed: the first digest reaches back lookback_days — the confirmation mail is no
    # "previous digest" that would hide the papers stored before it
    assert run(project, "send", now=NOW + 2 * day) == 0
    digest = smtp_sink.messages()[-1]
    assert "pat@example.org" in digest["To"] and "Confirm" not in digest["Subject"]
    rows = listing(project, capsys, now=NOW + 2 * day)
    assert rows["pat@example.org"]["status"] == "active"
    assert rows["pat@example.org"]["last_digest"] is not None


def test_status_order_suppressed_over_paused_over_pending(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.env_file(NEWSLETTER_SECRET="x" * 40)  # no SMTP: the confirmation waits queued
    path = write_csv(project, HEADER + "pat@example.org,,ssl,daily,UTC\n")
    assert run(project, "subscribers", "import", str(path), "--confirm") == 0
    assert "Queued 1 confirmation mail; SMTP_HOST is not set" in capsys.readouterr().out
    store = Store.open(load_config(project.config).database_url)
    until = NOW + timedelta(weeks=2)
    store.pause("pat@example.org", NOW, until)
    store.pause("alice@example.org", NOW, until)
    assert listing(project, capsys)["pat@example.org"]["status"] == "paused"
    rows = listing(project, capsys)
    assert rows["alice@example.org"]["status"] == "paused"
    assert rows["alice@example.org"]["paused_until"] == until.isoformat()
    store.suppress("alice@example.org", SuppressionReason.BOUNCE_HARD, NOW)
    rows = listing(project, capsys)
    assert rows["alice@example.org"]["status"] == "suppressed"
    assert rows["alice@example.org"]["suppressed_reason"] == "bounce-hard"
    assert rows["alice@example.org"]["suppressed_at"] == NOW.isoformat()
    assert rows["alice@example.org"]["paused_until"] is not None  # still known, not shown first
    later = listing(project, capsys, now=NOW + timedelta(hours=47))
    assert later["pat@example.org"]["status"] == "paused"
    later = listing(project, capsys, now=until + timedelta(minutes=1))
    assert "pat@example.org" not in later  # the sign-up expired after confirm_hours (48)
    assert later["bob@example.org"]["paused_until"] is None
    store.close()


def test_a_paused_subscriber_gets_no_digest_until_the_pause_ends(
    project: Project, smtp_sink: Sink
) -> None:
    smtp_env(project, smtp_sink)
    store = Store.open(load_config(project.config).database_url)
    store.pause("alice@example.org", NOW, NOW + timedelta(weeks=1))
    store.close()
    assert run(project, "send") == 0
    assert sorted(smtp_sink.recipients()) == ["bob@example.org"]


def test_export_csv_round_trips_into_another_project_and_yaml_loads(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(project, HEADER + 'q@example.org,"Quinn, Q.",ssl;trending,daily,UTC\n')
    assert run(project, "subscribers", "import", str(path)) == 0
    capsys.readouterr()
    assert run(project, "subscribers", "export") == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [r["email"] for r in rows] == [
        "alice@example.org",
        "bob@example.org",
        "nobody@example.org",
        "q@example.org",
    ]
    assert rows[-1] == {
        "email": "q@example.org",
        "name": "Quinn, Q.",
        "topics": "ssl;trending",
        "schedule": "daily",
        "timezone": "UTC",
        "origin": "import",
        "status": "active",
    }
    assert "nobody@example.org" in captured.err  # its own topic cannot go into a CSV
    # the same file feeds an import elsewhere (extra columns are ignored); the row left with
    # no topics is refused there, so the admin drops it first
    exported = project.root / "exported.csv"
    kept = [line for line in captured.out.splitlines() if not line.startswith("nobody@")]
    exported.write_text("\n".join(kept) + "\n", encoding="utf-8")
    other = Project(tmp_path / "other", database=f"sqlite:///{tmp_path}/other.db")
    (other.root / "config").mkdir(parents=True)
    other.write(subscribers=project.subscribers.read_text().split("subscribers:")[0])
    assert run(other, "subscribers", "import", str(exported)) == 0
    assert set(listing(other, capsys)) == {r["email"] for r in rows} - {"nobody@example.org"}

    assert run(project, "subscribers", "export", "--format", "yaml") == 0
    text = capsys.readouterr().out
    other.write(subscribers=project.subscribers.read_text().split("subscribers:")[0] + text)
    loaded = load_config(other.config)
    nobody = next(s for s in loaded.subscribers if s.email == "nobody@example.org")
    assert nobody.topics[0].query == "zyzzyva"  # own topics written out in full


def test_remove_deletes_web_and_imported_but_refuses_yaml(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(project, HEADER + "r@example.org,,ssl,daily,UTC\n")
    assert run(project, "subscribers", "import", str(path)) == 0
    assert run(project, "subscribers", "remove", "R@example.org") == 0
    assert "r@example.org" not in listing(project, capsys)
    assert run(project, "subscribers", "remove", "alice@example.org") == 2
    assert "subscribers.yaml" in capsys.readouterr().err
    assert run(project, "subscribers", "remove", "who@example.org") == 2
    assert "no subscriber who@example.org" in capsys.readouterr().err


def test_the_daemon_picks_up_a_web_subscriber_in_a_new_time_zone_without_a_restart(
    project: Project, smtp_sink: Sink
) -> None:
    configure(project, smtp_sink, feeds=False)
    clock = Clock(NOW)
    daemon = make_daemon(project, clock)
    before = set(daemon.groups)
    store = daemon.app.store
    store.save_subscriber(
        StoredSubscriber(
            email="tokyo@example.org",
            origin=SubscriberOrigin.WEB,
            choice=Choice((), "self-supervised", "daily", "Asia/Tokyo"),
            created_at=NOW,
            updated_at=NOW,
            confirmed_at=NOW,
        )
    )
    daemon.watch_subscribers()
    assert set(daemon.groups) - before == {"daily@Asia/Tokyo"}
    assert daemon.scheduler.get_job("digest:daily@Asia/Tokyo") is not None
    add_paper(daemon.app, 1, NOW)
    clock.now = NOW + timedelta(hours=16, seconds=2)  # 07:00 in Tokyo on the 27th
    daemon.fire("daily@Asia/Tokyo")
    assert smtp_sink.recipients() == ["tokyo@example.org"]
    store.remove_subscriber("tokyo@example.org")
    daemon.watch_subscribers()
    assert "daily@Asia/Tokyo" not in daemon.groups
    assert daemon.scheduler.get_job("digest:daily@Asia/Tokyo") is None


def test_the_daily_cleanup_forgets_sign_ups_nobody_confirmed(project: Project) -> None:
    from newsletter.schedule.jobs import clean_archive
    from newsletter.store.records import SignUp

    config = load_config(project.config)
    store = Store.open(config.database_url)
    try:
        for email, asked in (
            ("old@example.org", NOW),
            ("new@example.org", NOW + timedelta(hours=47)),
        ):
            store.request_signup(
                SignUp(email, SubscriberOrigin.WEB, Choice(("ssl",)), asked),
                mail_after=asked,
                expired_before=asked - timedelta(hours=48),
            )
        clock = Clock(NOW + timedelta(hours=49))
        app = App(config=config, env=read_environment(None), store=store, clock=clock)
        clean_archive(app, threading.Event())
        assert [s.email for s in store.signups()] == ["new@example.org"]
    finally:
        store.close()
