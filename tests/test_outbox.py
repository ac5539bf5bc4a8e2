"""Delivery through the outbox against misbehaving real SMTP servers, and crash recovery."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from newsletter.cli import main
from newsletter.config import load_config
from newsletter.records import SuppressionReason
from newsletter.store import Store
from tests.conftest import NOW, SUBSCRIBERS_YAML, Project, subprocess_env
from tests.smtp_sink import Sink, smtp_server

SECRET = "s3cret-for-tests-0123456789"


def use_sink(project: Project, port: int, **extra: str) -> None:
    project.env_file(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(port),
        SMTP_SECURITY="none",
        NEWSLETTER_SECRET=SECRET,
        SMTP_TIMEOUT="5",
        **extra,
    )


def send(project: Project, *args: str, at: Any = NOW) -> int:
    return main(["send", "--config", str(project.config), *args], clock=lambda: at)


def statuses(project: Project) -> dict[str, str]:
    store = Store.open(load_config(project.config).database_url)
    try:
        return {row.subscriber: row.status for row in store.outbox_rows()}
    finally:
        store.close()


class TempFailFirst(Sink):
    """Answers 451 to the first ``n`` DATA attempts per recipient."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    async def data_reply(self, server: Any, recipient: str, attempt: int) -> str | None:
        return "451 4.3.0 try again later" if attempt <= self.n else None


class RefuseOne(Sink):
    def rcpt_reply(self, recipient: str) -> str | None:
        return "550 5.1.1 no such user" if recipient.startswith("bob@") else None


def test_temporary_failures_are_deferred_then_retried_once(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = TempFailFirst(1)
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project) == 1  # something is left deferred
        assert set(statuses(project).values()) == {"deferred"}
        assert "deferred 2" in capsys.readouterr().out
        # Not due yet: a plain send leaves them alone (backoff), but its exit status and
        # summary still say they are waiting, and when the next retry is due...
        assert send(project, "--no-fetch") == 1
        out = capsys.readouterr().out
        assert "Sent 0, deferred 0, failed 0." in out
        assert "2 messages deferred in the outbox; the next retry is due at 2026-11-26 06:0" in out
        assert sink.received == []
        # ...and --retry-deferred sends them now.
        assert send(project, "--no-fetch", "--retry-deferred") == 0
    assert sorted(r for r, _ in sink.received) == ["alice@example.org", "bob@example.org"]
    assert set(statuses(project).values()) == {"sent"}
    assert sink.attempts == {"alice@example.org": 2, "bob@example.org": 2}


def test_backoff_elapses_and_a_later_send_delivers(project: Project) -> None:
    sink = TempFailFirst(1)
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project) == 1
        later = NOW.replace(hour=NOW.hour + 5)  # past the longest backoff of a first retry
        assert send(project, "--no-fetch", at=later) == 0
    assert len(sink.received) == 2


def test_one_refused_recipient_fails_alone(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = RefuseOne()
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project) == 1
        out = capsys.readouterr().out
    assert [r for r, _ in sink.received] == ["alice@example.org"]
    assert statuses(project) == {"alice@example.org": "sent", "bob@example.org": "failed"}
    assert "failed: bob@example.org: 550" in out


def test_server_down_defers_everything_and_loses_nothing(project: Project) -> None:
    from tests.smtp_sink import free_port

    use_sink(project, free_port())  # nothing listens there
    assert send(project) == 1
    assert set(statuses(project).values()) == {"deferred"}
    sink = Sink()
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project, "--no-fetch", "--retry-deferred") == 0
    assert sorted(r for r, _ in sink.received) == ["alice@example.org", "bob@example.org"]


def many_subscribers(count: int) -> str:
    head = SUBSCRIBERS_YAML.split("subscribers:")[0]
    people = "".join(
        f"  - email: reader{n:04d}@example.org\n    schedule: daily\n    topics: [ssl]\n"
        for n in range(count)
    )
    return head + "subscribers:\n" + people


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_sends_each_digest_once(
    project: Project, record_property: Any
) -> None:
    """A `send` killed at any moment and run again finishes the work.

    Duplicates are possible only in the documented window (the server accepted a
    message, the process died before recording it): at most one per connection per kill.
    """
    count = 500
    project.write(subscribers=many_subscribers(count))
    project.feed_for_real_clock()
    sink = Sink()
    rng = random.Random(20261126)
    env = subprocess_env()
    command = project.send_command()
    kills = 0
    with smtp_server(sink) as port:
        use_sink(project, port, SMTP_CONNECTIONS="2")
        # Kill points: while composing (before anything is sent), then at random sink counts.
        targets = [None, *sorted(rng.sample(range(20, count - 20), 3))]
        for target in targets:
            proc = subprocess.Popen(
                command,
                cwd=project.root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            deadline = time.monotonic() + 120
            if target is None:
                time.sleep(rng.uniform(0.5, 1.5))
            else:
                while len(sink.received) < target and proc.poll() is None:
                    assert time.monotonic() < deadline, "send made no progress"
                    time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        finished = None
        for _ in range(5):
            finished = subprocess.run(
                command, cwd=project.root, env=env, capture_output=True, text=True, timeout=300
            )
            if finished.returncode == 0:
                break
        assert finished is not None and finished.returncode == 0, (
            finished.stderr if finished else ""
        )
    per_address: dict[str, int] = {}
    for recipient, _ in sink.received:
        per_address[recipient] = per_address.get(recipient, 0) + 1
    missing = count - len(per_address)
    duplicates = sum(n - 1 for n in per_address.values())
    record_property("kills", kills)
    record_property("duplicates", duplicates)
    print(f"\ncrash test: {kills} kills, {duplicates} duplicate digests, {missing} missing")
    final = finished.stdout + finished.stderr if finished else ""
    assert missing == 0, final
    assert duplicates <= kills * 2  # SMTP_CONNECTIONS=2: one in flight per connection
    assert set(statuses(project).values()) == {"sent"}


def test_unsubscribe_over_http_then_send_skips_the_address(
    project: Project, tmp_path: Path
) -> None:
    import urllib.error
    import urllib.parse
    import urllib.request

    from tests.smtp_sink import free_port

    sink = Sink()
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project, "--subscriber", "alice@example.org") == 0
    ((recipient, data),) = sink.received
    from email import message_from_bytes, policy

    message = message_from_bytes(data, policy=policy.default)
    header = str(message["List-Unsubscribe"])
    link = header.split("<", 1)[1].split(">", 1)[0]
    assert link.startswith("https://digest.example.org/news/unsubscribe?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    web_port = free_port()
    env = subprocess_env()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsletter",
            "serve",
            "--config",
            str(project.config),
            "--port",
            str(web_port),
        ],
        cwd=project.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        local = link.replace("https://digest.example.org", f"http://127.0.0.1:{web_port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(local, timeout=5) as reply:
                    page = reply.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert "<form" in page  # GET only shows a confirmation
        assert statuses(project)  # nothing changed by the GET:
        store = Store.open(load_config(project.config).database_url)
        assert not store.is_suppressed("alice@example.org")
        request = urllib.request.Request(
            local,
            data=b"List-Unsubscribe=One-Click",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.status == 200
        assert store.is_suppressed("alice@example.org")
        store.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    # New papers arrive; alice is still in subscribers.yaml, but suppression wins.
    sink = Sink()
    later = NOW.replace(hour=9)
    feed = project.root / "config" / "sample-feed.atom"
    feed.write_text(
        feed.read_text().replace(
            "</feed>",
            """  <entry>
    <title>Self-supervised everything</title><id>urn:test:x</id>
    <link rel="alternate" href="https://example.org/x"/>
    <published>2026-11-26T08:30:00Z</published><summary>self-supervised</summary>
  </entry>
</feed>""",
        )
    )
    stamp = feed.stat().st_mtime + 2  # a local feed's mtime is its Last-Modified (1 s resolution)
    os.utime(feed, (stamp, stamp))
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project, at=later) == 0
    store = Store.open(load_config(project.config).database_url)
    assert store.entry_count() == 81  # alice's topic has something new...
    store.close()
    assert "alice@example.org" not in [r for r, _ in sink.received]  # ...but she is suppressed
    assert "bob@example.org" in [r for r, _ in sink.received]
    assert recipient == "alice@example.org"


def test_subscribers_command_shows_status(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = RefuseOne()
    with smtp_server(sink) as port:
        use_sink(project, port)
        send(project)
    store = Store.open(load_config(project.config).database_url)
    store.suppress("nobody@example.org", SuppressionReason.UNSUBSCRIBE, NOW)
    store.close()
    capsys.readouterr()
    assert main(["subscribers", "--config", str(project.config)], clock=lambda: NOW) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert (
        "active" in lines["alice@example.org"]
        and "2026-11-26 06:00 UTC" in lines["alice@example.org"]
    )
    # 550 5.1.1: the address does not exist, so it is suppressed at once.
    assert "1 failed" in lines["bob@example.org"]
    assert "suppressed (bounce-hard) since 2026-11-26 06:00 UTC" in lines["bob@example.org"]
    assert "suppressed (unsubscribe) since 2026-11-26 06:00 UTC" in lines["nobody@example.org"]


def test_dkim_signed_bytes_are_stored_and_verify_where_they_arrive(
    project: Project, tmp_path: Path
) -> None:
    import base64

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nl._domainkey.example.org."
        return record

    sink = Sink()
    with smtp_server(sink) as port:
        use_sink(
            project,
            port,
            DKIM_SELECTOR="nl",
            DKIM_DOMAIN="example.org",
            DKIM_PRIVATE_KEY_FILE=str(key_file),
        )
        assert send(project) == 0
    assert len(sink.received) == 2
    for _, data in sink.received:
        assert data.startswith(b"DKIM-Signature:")
        assert dkim.verify(data, dnsfunc=dns)
        header = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b"").replace(b"\r\n ", b"")
        signed = header.split(b" h=", 1)[1].split(b";", 1)[0].lower()
        assert b"list-unsubscribe-post" in signed and b"list-unsubscribe" in signed
    store = Store.open(load_config(project.config).database_url)
    stored = {row.subscriber: row.data for row in store.outbox_rows()}
    store.close()
    for recipient, data in sink.received:
        assert stored[recipient].replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")


def test_missing_dkim_key_file_is_a_clear_error(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    use_sink(
        project,
        25,
        DKIM_SELECTOR="nl",
        DKIM_DOMAIN="example.org",
        DKIM_PRIVATE_KEY_FILE=str(project.root / "nope.pem"),
    )
    assert send(project) == 2
    err = capsys.readouterr().err
    assert "DKIM_PRIVATE_KEY_FILE cannot be read" in err and "Traceback" not in err


def test_a_run_abandoned_while_composing_is_taken_over_not_lost(project: Project) -> None:
    """A process that died between claiming (schedule, period) and finishing must not
    cost anyone their digest: after STALE_RUN the next claim takes the run over."""
    from datetime import timedelta

    from newsletter.app import App
    from newsletter.config import read_environment
    from newsletter.run import DigestRun, OutboxSink, RunOptions
    from newsletter.store import STALE_RUN

    project.env_file(NEWSLETTER_SECRET=SECRET)
    config = load_config(project.config)
    store = Store.open(config.database_url)
    env = read_environment(project.root / ".env")

    def compose(at: Any) -> int:
        app = App(config=config, env=env, store=store, clock=lambda: at)
        options = RunOptions(schedule="daily@UTC", period="2026-11-26", deliver=False)
        run = DigestRun(app, OutboxSink(store, store), options)
        run.check()
        run.compose()
        return run.result.tally.composed

    DigestRun(
        App(config=config, env=env, store=store, clock=lambda: NOW), OutboxSink(store, store)
    ).fetch()
    dead = store.claim_run("daily@UTC", "2026-11-26", NOW - timedelta(minutes=5))
    assert dead is not None
    # Still fresh: another process may be composing it right now.
    assert compose(NOW) == 0
    assert compose(NOW + STALE_RUN) == 2
    assert {r.subscriber for r in store.outbox_rows()} == {"alice@example.org", "bob@example.org"}
    # Finished now: a third claim composes nothing.
    assert compose(NOW + 3 * STALE_RUN) == 0
    store.close()
