"""`bounces` against a real Dovecot holding real-format DSNs, an ARF report, a mailed
unsubscribe and mail it must leave alone; on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.cli import main
from newsletter.records import SuppressionReason
from tests.bounce_fixtures import Filled, fixture
from tests.conftest import MAIN_YAML, NOW, Project, subprocess_env
from tests.imap_server import (  # noqa: F401
    INSTALL,
    PASSWORD,
    ImapServer,
    dovecot,
    dovecot_server,
    imap,
)
from tests.smtp_sink import Sink, free_port, smtp_server
from tests.test_deliver_refusals import add_paper, outbox, suppressed
from tests.test_outbox import send, use_sink

MAIN = MAIN_YAML + "bounce_address: bounces@example.org\n"
READERS = {
    "dsn-hard.eml": "gone",
    "dsn-mailbox-full.eml": "full",
    "dsn-delayed.eml": "slow",
    "exim-hard.eml": "moved",
    "qmail-hard.eml": "nobody-here",
    "arf-abuse.eml": "annoyed",
    "unsubscribe.eml": "leaving",
    "auto-reply.eml": "away",
}
"""Which reader each fixture is about (``<name>@example.org``)."""
LEFT_ALONE = ("not-a-bounce.eml", "broken.eml")


def subscribers(names: list[str]) -> str:
    people = "".join(
        f"  - email: {name}@example.org\n    schedule: daily\n"
        "    topics: [{title: SSL, query: self-supervised}]\n"
        for name in names
    )
    return "subscribers:\n" + people


@pytest.fixture
def mailbox(
    imap: ImapServer,  # noqa: F811
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
) -> ImapServer:
    """The project's digests sent (VERP on), the bounce mailbox reachable and empty.

    The test CA is trusted through SSL_CERT_FILE, which OpenSSL's default verify paths
    read: Dovecot offers STARTTLS, and the client always takes it.
    """
    ca = imap.root / "ca.pem"
    imap.ca.cert_pem.write_to_path(str(ca))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.delenv("BOUNCE_IMAP_URL", raising=False)
    project.write(MAIN, subscribers(sorted(READERS.values())))
    with smtp_server(Sink()) as port:
        use_sink(project, port, BOUNCE_IMAP_URL=imap.url())
        assert send(project) == 0
    return imap


def fill(project: Project, server: ImapServer, names: list[str]) -> None:
    """Put each fixture, filled in for its reader's outbox row, in the bounce mailbox."""
    rows = outbox(project)
    for name in names:
        reader = READERS.get(name)
        if reader is None:
            server.append(fixture(name, Filled("x" * 14, "<none@example.org>", "x@example.org")))
            continue
        row = rows[f"{reader}@example.org"]
        assert row.token is not None
        server.append(fixture(name, Filled(row.token, row.message_id, row.subscriber)))


def bounces(project: Project, *args: str) -> int:
    return main(["bounces", *args, "--config", str(project.config)], clock=lambda: NOW)


def test_bounces_once_reads_every_format_and_files_what_it_read(
    mailbox: ImapServer, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(project, mailbox, [*READERS, *LEFT_ALONE])
    untouched = [
        fixture(name, Filled("x" * 14, "<none@example.org>", "x@example.org"))
        for name in LEFT_ALONE
    ]
    capsys.readouterr()
    assert bounces(project, "--once") == 0
    out = capsys.readouterr().out
    assert (
        "10 messages read: 3 hard bounces, 1 soft bounce, 1 complaint, 1 unsubscribe, "
        "2 needing no action; 2 left unread." in out
    )
    assert suppressed(project) == {
        "gone@example.org": SuppressionReason.BOUNCE_HARD,
        "moved@example.org": SuppressionReason.BOUNCE_HARD,
        "nobody-here@example.org": SuppressionReason.BOUNCE_HARD,
        "annoyed@example.org": SuppressionReason.COMPLAINT,
        "leaving@example.org": SuppressionReason.UNSUBSCRIBE,
    }
    rows = outbox(project)
    assert rows["full@example.org"].report is SuppressionReason.BOUNCE_SOFT  # counted, once
    assert rows["slow@example.org"].report is None
    assert rows["gone@example.org"].report is SuppressionReason.BOUNCE_HARD
    # Read mail went to Processed (created for it); the rest is exactly as it came, unread.
    assert "Processed" in mailbox.folders()
    assert len(mailbox.contents("Processed")) == len(READERS)
    assert sorted(mailbox.contents()) == sorted(untouched)
    assert all("\\Seen" not in flags for flags in mailbox.flags())

    # The next digest skips everyone the mailbox suppressed.
    sink = Sink()
    later = NOW + timedelta(days=1)
    add_paper(project, 1, later - timedelta(minutes=5))
    with smtp_server(sink) as port:
        use_sink(project, port, BOUNCE_IMAP_URL=mailbox.url())
        assert send(project, "--no-fetch", at=later) == 0
    assert sorted(sink.recipients()) == [
        "away@example.org",
        "full@example.org",
        "slow@example.org",
    ]

    # A second pass finds only what it left, and changes nothing more.
    assert bounces(project, "--once") == 0
    assert "2 messages read:" in capsys.readouterr().out
    assert len(mailbox.contents("Processed")) == len(READERS)


def test_dry_run_says_what_it_would_do_and_changes_nothing(
    mailbox: ImapServer, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(project, mailbox, ["dsn-hard.eml", "arf-abuse.eml", "dsn-mailbox-full.eml", "broken.eml"])
    before = sorted(mailbox.contents())
    capsys.readouterr()
    assert bounces(project, "--once", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "hard bounce: gone@example.org: would suppress (bounce-hard)" in out
    assert "complaint: annoyed@example.org: would suppress (complaint)" in out
    assert "soft bounce: full@example.org: would count toward bounce-soft" in out
    assert "Dry run: nothing was changed" in out
    assert suppressed(project) == {}
    assert {row.report for row in outbox(project).values()} == {None}
    assert sorted(mailbox.contents()) == before
    assert mailbox.folders() == ["INBOX"]
    assert all("\\Seen" not in flags for flags in mailbox.flags())


def test_implicit_tls_is_verified(
    mailbox: ImapServer,
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(project, mailbox, ["dsn-hard.eml"])
    secure = mailbox.url("imaps")
    project.env_file(**_env(project), BOUNCE_IMAP_URL=secure)
    assert bounces(project, "--once") == 0
    assert suppressed(project) == {"gone@example.org": SuppressionReason.BOUNCE_HARD}
    monkeypatch.setenv("SSL_CERT_FILE", str(Path(os.devnull)))  # trust nothing
    capsys.readouterr()
    assert bounces(project, "--once") == 1
    err = capsys.readouterr().err
    assert "TLS certificate of 127.0.0.1" in err and "could not be verified" in err


def _env(project: Project) -> dict[str, str]:
    lines = (project.root / ".env").read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    values.pop("BOUNCE_IMAP_URL", None)
    return values


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (None, "BOUNCE_IMAP_URL is not set"),
        ("http://bounces:pw@mail.example.org/INBOX", "use imaps://"),
        ("imaps://mail.example.org/INBOX", "needs the user and password"),
        ("imaps://bounces:pw@mail.example.org:99999/INBOX", "not a URL"),
    ],
)
def test_a_missing_or_bad_url_is_exit_2(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str | None,
    says: str,
) -> None:
    monkeypatch.delenv("BOUNCE_IMAP_URL", raising=False)
    project.env_file(**({"BOUNCE_IMAP_URL": url} if url else {}))
    assert bounces(project, "--once") == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert bounces(project) == 2  # the poller checks before it starts


def test_an_unreachable_mailbox_or_a_refused_login_is_exit_1(
    mailbox: ImapServer, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    nobody = f"imap://bounces:pw@127.0.0.1:{free_port()}/INBOX"
    project.env_file(**_env(project), BOUNCE_IMAP_URL=nobody)
    capsys.readouterr()
    assert bounces(project, "--once") == 1
    assert "during connect" in capsys.readouterr().err
    wrong = "wrong-Pässwort"
    project.env_file(**_env(project), BOUNCE_IMAP_URL=mailbox.url(password=wrong))
    assert bounces(project, "--once") == 1
    err = capsys.readouterr().err
    assert "the login for user 'bounces' was refused" in err
    assert wrong not in err and PASSWORD not in err


def test_the_daemon_reads_the_mailbox_every_five_minutes(
    mailbox: ImapServer, project: Project
) -> None:
    from tests.test_schedule_daemon import Clock, make_daemon

    fill(project, mailbox, ["arf-abuse.eml"])
    daemon = make_daemon(project, Clock(NOW))
    try:
        job = daemon.scheduler.get_job("bounces")
        assert job is not None and job.trigger.interval == timedelta(minutes=5)
        daemon.read_bounces()
    finally:
        daemon.app.store.close()
    assert suppressed(project) == {"annoyed@example.org": SuppressionReason.COMPLAINT}


def test_bounces_without_once_polls_until_sigterm(mailbox: ImapServer, project: Project) -> None:
    fill(project, mailbox, ["unsubscribe.eml"])
    env = subprocess_env()
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "bounces", "--config", str(project.config)],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        while "read:" not in first:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            first += proc.stdout.readline()
        assert "1 unsubscribe" in first
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 30  # not the 5-minute wait
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert suppressed(project) == {"leaving@example.org": SuppressionReason.UNSUBSCRIBE}


def test_plain_imap_is_used_only_to_a_loopback_server_that_offers_no_starttls(
    mailbox: ImapServer, project: Project
) -> None:
    """A local Dovecot without TLS: the login goes in plain text because it is loopback."""
    from newsletter.deliver.imap import parse_mailbox_url

    assert parse_mailbox_url("imap://u:p@localhost/INBOX").loopback
    assert parse_mailbox_url("imap://u:p@[::1]/INBOX").loopback
    assert not parse_mailbox_url("imap://u:p@mail.example.org/INBOX").loopback
    with contextlib.ExitStack() as stack:
        try:
            plain = stack.enter_context(dovecot(tls=False))
        except FileNotFoundError:
            pytest.skip(f"Dovecot is not installed here ({INSTALL})")
        fill(project, plain, ["dsn-hard.eml"])
        project.env_file(**_env(project), BOUNCE_IMAP_URL=plain.url())
        assert bounces(project, "--once") == 0
    assert suppressed(project) == {"gone@example.org": SuppressionReason.BOUNCE_HARD}
