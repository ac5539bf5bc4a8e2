"""What the relay's refusals do, against real aiosmtpd servers, on SQLite and PostgreSQL.

A 5.1.x refusal suppresses its address at once; three digests in a row refused suppress
it as ``bounce-soft``; a relay that refuses everyone pauses the run without spending an
attempt, and the daemon waits the pause out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from newsletter.cli import main
from newsletter.config import load_config
from newsletter.deliver.verp import read_address
from newsletter.records import Entry, Message, OutboxFailure, OutboxStatus, SuppressionReason
from newsletter.run import store_entries
from newsletter.run.bounces import Bounces
from newsletter.store import Store
from newsletter.store.sql import SqlStore
from tests.conftest import MAIN_YAML, NOW, SUBSCRIBERS_YAML, Project
from tests.smtp_sink import Sink, smtp_server
from tests.test_outbox import many_subscribers, send, use_sink
from tests.test_schedule_daemon import Clock, make_daemon

BOUNCE_YAML = MAIN_YAML + "bounce_address: bounces@example.org\n"


class RefuseBob(Sink):
    """550 5.1.1 for bob (no such user), everyone else accepted."""

    def rcpt_reply(self, recipient: str) -> str | None:
        return "550 5.1.1 <bob@example.org>: no such user" if recipient.startswith("bob@") else None


class RefuseEveryone(Sink):
    """A relay that blocks us: 554 at MAIL FROM, whoever the message is for."""

    def __init__(self, reply: str = "554 5.7.1 Service unavailable; client host blocked") -> None:
        super().__init__()
        self.reply = reply
        self.refused = 0

    def mail_reply(self, sender: str) -> str | None:
        with self.lock:
            self.refused += 1
        return self.reply


class MailboxFull(Sink):
    """552 5.2.2 for alice's every digest: a soft bounce, not a dead address."""

    def rcpt_reply(self, recipient: str) -> str | None:
        return "552 5.2.2 mailbox full" if recipient.startswith("alice@") else None


def open_store(project: Project) -> SqlStore:
    return Store.open(load_config(project.config).database_url)


def outbox(project: Project) -> dict[str, Any]:
    store = open_store(project)
    try:
        return {row.subscriber: row for row in store.outbox_rows()}
    finally:
        store.close()


def suppressed(project: Project) -> dict[str, SuppressionReason]:
    store = open_store(project)
    try:
        return {email: s.reason for email, s in store.suppressions().items()}
    finally:
        store.close()


def test_a_dead_address_is_suppressed_at_its_first_refusal_and_not_mailed_again(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = RefuseBob()
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project) == 1
        assert suppressed(project) == {"bob@example.org": SuppressionReason.BOUNCE_HARD}
        rows = outbox(project)
        assert rows["bob@example.org"].status is OutboxStatus.FAILED
        assert rows["bob@example.org"].failure is OutboxFailure.REFUSED
        assert rows["alice@example.org"].status is OutboxStatus.SENT
        capsys.readouterr()
        # A new paper for everyone: alice gets it, bob's address is never tried again.
        add_paper(project, 1, NOW + timedelta(hours=1))
        assert send(project, "--no-fetch", at=NOW + timedelta(hours=2)) == 0
    assert sink.recipients() == ["alice@example.org", "alice@example.org"]
    assert sink.attempts["bob@example.org"] == 0  # refused at RCPT, never reached DATA
    capsys.readouterr()
    assert main(["subscribers", "--json", "--config", str(project.config)], clock=lambda: NOW) == 0
    listed = {r["email"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert listed["bob@example.org"]["suppressed_reason"] == "bounce-hard"
    assert listed["bob@example.org"]["suppressed_at"] == NOW.isoformat()
    assert listed["alice@example.org"]["suppressed_reason"] is None
    assert listed["alice@example.org"]["suppressed_at"] is None


def add_paper(project: Project, n: int, at: datetime) -> None:
    """A fresh paper every test subscriber's topic (ssl) matches, first seen at ``at``."""
    store = open_store(project)
    try:
        entry = Entry(
            key=f"url:https://example.org/refusals/{n}",
            title=f"Self-supervised trick number {n}",
            link=f"https://example.org/refusals/{n}",
            published=at,
            abstract="A self-supervised method.",
            feeds=("sample",),
        )
        store_entries(store, [entry], now=at)
    finally:
        store.close()


def test_a_relay_that_refuses_everyone_pauses_the_run_and_costs_no_attempt(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(subscribers=many_subscribers(30))
    sink = RefuseEveryone()
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project) == 1
    out = capsys.readouterr().out
    assert "paused: the relay refused 20 messages in a row: 554 5.7.1 Service unavailable" in out
    rows = outbox(project)
    assert len(rows) == 30
    # Every row is back to pending, as if never tried: not one attempt spent, no failure.
    assert {row.status for row in rows.values()} == {OutboxStatus.PENDING}
    assert {row.attempts for row in rows.values()} == {0}
    assert {row.failure for row in rows.values()} == {None}
    assert suppressed(project) == {}
    # It stopped at the streak (plus what was already handed to the 2 connections: send_many
    # keeps 2 per connection in flight, so at most 3 more than the streak), not at 30.
    assert 20 <= sink.refused <= 23
    store = open_store(project)
    pause = store.relay_pause()
    store.close()
    assert pause is not None and pause.pauses == 1
    assert pause.until == NOW + timedelta(minutes=5)
    assert pause.reason.startswith("the relay refused 20 messages in a row: 554 5.7.1")


def test_a_dead_address_in_the_streak_stays_suppressed_when_the_run_pauses(
    project: Project,
) -> None:
    """The 5.1.x refusals of a streak concern their address: they are not given back."""
    project.write(MAIN_YAML + "delivery:\n  max_consecutive_errors: 2\n", SUBSCRIBERS_YAML)

    class DeadBobThenBlocked(Sink):
        def rcpt_reply(self, recipient: str) -> str | None:
            if recipient.startswith("bob@"):
                return "550 5.1.1 no such user"
            return "554 5.7.1 blocked"

    with smtp_server(DeadBobThenBlocked()) as port:
        use_sink(project, port, SMTP_CONNECTIONS="1")
        assert send(project) == 1
    rows = outbox(project)
    assert rows["bob@example.org"].status is OutboxStatus.FAILED
    assert rows["bob@example.org"].attempts == 1
    assert rows["alice@example.org"].status is OutboxStatus.PENDING
    assert rows["alice@example.org"].attempts == 0
    assert suppressed(project) == {"bob@example.org": SuppressionReason.BOUNCE_HARD}


def test_one_permanent_refusal_still_fails_its_message_at_once(project: Project) -> None:
    class RefuseAliceForPolicy(Sink):
        def rcpt_reply(self, recipient: str) -> str | None:
            return "554 5.7.1 message rejected" if recipient.startswith("alice@") else None

    with smtp_server(RefuseAliceForPolicy()) as port:
        use_sink(project, port)
        assert send(project) == 1
    rows = outbox(project)
    assert rows["alice@example.org"].status is OutboxStatus.FAILED
    assert rows["alice@example.org"].failure is OutboxFailure.REFUSED
    assert rows["bob@example.org"].status is OutboxStatus.SENT
    assert suppressed(project) == {}  # one soft bounce is not three
    store = open_store(project)
    assert store.relay_pause() is None
    store.close()


def test_three_digests_in_a_row_refused_suppress_the_address_as_bounce_soft(
    project: Project,
) -> None:
    sink = MailboxFull()
    with smtp_server(sink) as port:
        use_sink(project, port)
        at = NOW
        assert send(project, "--subscriber", "alice@example.org", at=at) == 1
        for n in (1, 2):
            assert suppressed(project) == {}, f"suppressed after {n} refused digests"
            at += timedelta(days=1)
            add_paper(project, n, at - timedelta(minutes=5))
            assert send(project, "--no-fetch", "--subscriber", "alice@example.org", at=at) == 1
    assert suppressed(project) == {"alice@example.org": SuppressionReason.BOUNCE_SOFT}
    assert sink.recipients() == []


def test_failures_of_our_own_never_count_toward_bounce_soft(project: Project) -> None:
    store = open_store(project)
    bounces = Bounces(store, store, lambda: NOW)
    try:
        settle(store, "alice@example.org", ["refused", "refused"])
        # Newest: a digest we could not even make. It is not the address's fault.
        run = store.claim_run("manual", "ours", NOW)
        assert run is not None
        store.record_failure(run, "alice@example.org", "digest could not be made: boom", NOW)
        assert len(store.recent_outcomes("alice@example.org", 3)) == 2
        assert not bounces.soft_bounced("alice@example.org", "552 5.2.2 mailbox full")
        # A digest the relay took but that came back later as a soft bounce (a DSN) counts.
        settle(store, "alice@example.org", ["returned"])
        assert bounces.soft_bounced("alice@example.org", "5.2.2 mailbox full")
        found = store.suppression("alice@example.org")
        assert found is not None and found.reason is SuppressionReason.BOUNCE_SOFT
        # A digest that went through breaks the streak for someone else.
        settle(store, "bob@example.org", ["refused", "sent", "refused"])
        assert not bounces.soft_bounced("bob@example.org", "552 5.2.2 mailbox full")
    finally:
        store.close()


def settle(store: SqlStore, email: str, outcomes: list[str]) -> None:
    """Digests for ``email``, oldest first: ``refused`` by the relay, ``sent``, or sent and
    ``returned`` later as a soft bounce."""
    for outcome in outcomes:
        n = len(store.outbox_rows())
        run = store.claim_run("manual", f"digest-{n}", NOW)
        assert run is not None
        message = Message(email, "digest@example.org", f"<d{n}@example.org>", "s", b"x", "", "")
        store.enqueue(run, [message], NOW)
        (row,) = store.claim(NOW, timedelta(minutes=10), limit=1)
        if outcome == "refused":
            store.mark(
                row.id,
                OutboxStatus.FAILED,
                now=NOW,
                reply="552 5.2.2 mailbox full",
                failure=OutboxFailure.REFUSED,
            )
        else:
            store.mark(row.id, OutboxStatus.SENT, now=NOW, reply="250 ok")
        if outcome == "returned":
            assert store.record_report(row.id, SuppressionReason.BOUNCE_SOFT, NOW)


def test_the_daemon_waits_out_a_pause_doubling_it_until_the_relay_takes_mail(
    project: Project,
) -> None:
    project.write(MAIN_YAML + "delivery:\n  max_consecutive_errors: 2\n", SUBSCRIBERS_YAML)
    blocked = RefuseEveryone("421 4.7.0 too many connections, try later")
    with smtp_server(blocked) as port:
        use_sink(project, port, SMTP_CONNECTIONS="1")
        assert send(project) == 1  # composes 2 digests, pauses on the second refusal
    clock = Clock(NOW + timedelta(minutes=1))
    sink = Sink()
    with smtp_server(sink) as port:
        use_sink(project, port)
        daemon = make_daemon(project, clock)
        try:
            daemon.drain()  # 1 minute into a 5-minute pause: nothing is tried
            assert sink.received == []
            clock.now = NOW + timedelta(minutes=5, seconds=1)
            daemon.drain()
            assert sorted(sink.recipients()) == ["alice@example.org", "bob@example.org"]
            assert daemon.app.store.relay_pause() is None
        finally:
            daemon.app.store.close()
    assert {row.status for row in outbox(project).values()} == {OutboxStatus.SENT}
    assert {row.attempts for row in outbox(project).values()} == {1}


def test_a_second_pause_in_a_row_waits_twice_as_long(project: Project) -> None:
    project.write(MAIN_YAML + "delivery:\n  max_consecutive_errors: 2\n", SUBSCRIBERS_YAML)
    with smtp_server(RefuseEveryone()) as port:
        use_sink(project, port, SMTP_CONNECTIONS="1")
        assert send(project) == 1
        clock = Clock(NOW + timedelta(minutes=6))
        daemon = make_daemon(project, clock)
        try:
            daemon.drain()
            pause = daemon.app.store.relay_pause()
        finally:
            daemon.app.store.close()
    assert pause is not None and pause.pauses == 2
    assert pause.since == NOW
    assert pause.until == clock.now + timedelta(minutes=10)


def test_status_shows_a_paused_relay_and_the_weeks_bounce_rate(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    with smtp_server(RefuseBob()) as port:
        use_sink(project, port)
        send(project)
    capsys.readouterr()
    at = NOW + timedelta(hours=1)
    assert main(["status", "--config", str(project.config)], clock=lambda: at) == 1
    out = capsys.readouterr().out
    assert "Relay: delivering" in out
    assert "Last 7 days: 1 sent, 1 bounced (50.0 % of 2), 0 complaints (0.00 % of 1)" in out
    assert "bounce rate 50.0 % over the last 7 days" in out

    project.write(MAIN_YAML + "delivery:\n  max_consecutive_errors: 1\n", SUBSCRIBERS_YAML)
    add_paper(project, 7, at)
    with smtp_server(RefuseEveryone()) as port:
        use_sink(project, port, SMTP_CONNECTIONS="1")
        assert send(project, "--no-fetch", at=at) == 1
    capsys.readouterr()
    assert main(["status", "--config", str(project.config)], clock=lambda: at) == 1
    out = capsys.readouterr().out
    assert "Relay: paused until 2026-11-26 07:05 UTC: the relay refused 1 messages" in out
    assert "delivery paused since 2026-11-26 07:00 UTC (1 pause in a row" in out


def test_return_path_feedback_id_and_mailto_unsubscribe_carry_the_rows_token(
    project: Project,
) -> None:
    project.write(BOUNCE_YAML, SUBSCRIBERS_YAML)
    sink = Sink()
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project) == 0
    rows = outbox(project)
    store = open_store(project)
    try:
        for envelope in sink.envelopes:
            (recipient,) = envelope.rcpt_tos
            returned = read_address(envelope.mail_from)
            assert returned is not None, envelope.mail_from
            local = envelope.mail_from.split("@")[0]
            assert local.startswith("bounces+b-") and len(local) <= 64
            assert envelope.mail_from.endswith("@example.org")
            found = store.find_message(token=returned.token)
            assert found is not None and found.id == rows[recipient].id
            message = message_from_bytes(envelope.content, policy=policy.default)
            unsubscribe = str(message["List-Unsubscribe"])
            assert f"<mailto:bounces+u-{returned.token}@example.org?subject=unsubscribe>" in (
                unsubscribe.replace("\r\n", "").replace(" ", "")
            )
            assert message["Feedback-ID"] == "daily:test-digest:digest:example.org"
    finally:
        store.close()


def test_without_a_bounce_address_the_envelope_sender_is_the_sender(project: Project) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        use_sink(project, port)
        assert send(project) == 0
    assert {e.mail_from for e in sink.envelopes} == {"digest@example.org"}
    for message in sink.messages():
        assert "mailto:" not in str(message["List-Unsubscribe"])


# -- subscribers reactivate ------------------------------------------------------------------


def reactivate(project: Project, *args: str) -> int:
    return main(
        ["subscribers", "reactivate", *args, "--config", str(project.config)], clock=lambda: NOW
    )


@pytest.mark.parametrize("reason", [SuppressionReason.BOUNCE_HARD, SuppressionReason.BOUNCE_SOFT])
def test_reactivate_lifts_a_bounce(
    project: Project, capsys: pytest.CaptureFixture[str], reason: SuppressionReason
) -> None:
    store = open_store(project)
    store.suppress("bob@example.org", reason, NOW)
    store.close()
    assert reactivate(project, "Bob@Example.org") == 0
    assert f"Reactivated bob@example.org (was suppressed: {reason} since" in capsys.readouterr().out
    assert suppressed(project) == {}
    assert reactivate(project, "bob@example.org") == 0
    assert "bob@example.org is not suppressed" in capsys.readouterr().out


@pytest.mark.parametrize("reason", [SuppressionReason.UNSUBSCRIBE, SuppressionReason.COMPLAINT])
def test_a_persons_own_unsubscribe_or_complaint_needs_force(
    project: Project, capsys: pytest.CaptureFixture[str], reason: SuppressionReason
) -> None:
    store = open_store(project)
    store.suppress("alice@example.org", reason, NOW)
    store.close()
    assert reactivate(project, "alice@example.org") == 2
    err = capsys.readouterr().err
    assert "only they can undo that" in err and "--force" in err and "Traceback" not in err
    assert suppressed(project) == {"alice@example.org": reason}
    assert reactivate(project, "alice@example.org", "--force") == 0
    assert suppressed(project) == {}


def test_reactivating_an_unknown_address_is_exit_2(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reactivate(project, "stranger@example.org") == 2
    assert "no subscriber stranger@example.org" in capsys.readouterr().err


def test_a_stronger_reason_replaces_a_weaker_one_never_the_reverse(project: Project) -> None:
    store = open_store(project)
    try:
        later = NOW + timedelta(days=1)
        assert store.suppress("a@example.org", SuppressionReason.BOUNCE_SOFT, NOW)
        assert store.suppress("a@example.org", SuppressionReason.COMPLAINT, later)
        assert not store.suppress("a@example.org", SuppressionReason.BOUNCE_HARD, later)
        assert not store.suppress("a@example.org", SuppressionReason.UNSUBSCRIBE, later)
        found = store.suppression("a@example.org")
        assert found is not None and found.reason is SuppressionReason.COMPLAINT
        assert found.since == later
        assert store.unsuppress("a@example.org", {SuppressionReason.UNSUBSCRIBE}) is None
        assert store.is_suppressed("a@example.org")
    finally:
        store.close()


def test_old_databases_reason_strings_read_as_a_persons_unsubscribe(project: Project) -> None:
    from sqlalchemy import insert

    from newsletter.store.schema import suppressions

    store = open_store(project)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                insert(suppressions).values(
                    email="old@example.org",
                    reason="unsubscribed",
                    since=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
        found = store.suppression("old@example.org")
        assert found is not None and found.reason is SuppressionReason.UNSUBSCRIBE
    finally:
        store.close()


def test_a_relay_that_cannot_be_reached_pauses_instead_of_deferring_everyone(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.smtp_sink import free_port

    project.write(subscribers=many_subscribers(12))
    use_sink(project, free_port())  # nothing listens there
    assert send(project) == 1
    assert "paused: the relay cannot be reached: " in capsys.readouterr().out
    rows = outbox(project).values()
    assert {row.status for row in rows} == {OutboxStatus.PENDING}
    assert {row.attempts for row in rows} == {0}


def test_a_message_deferred_past_giving_up_fails_as_expired_and_counts_as_a_bounce(
    project: Project,
) -> None:
    class TryLater(Sink):
        def rcpt_reply(self, recipient: str) -> str | None:
            return "451 4.2.0 mailbox busy, try later"

    with smtp_server(TryLater()) as port:
        use_sink(project, port)
        assert send(project) == 1
        assert {row.status for row in outbox(project).values()} == {OutboxStatus.DEFERRED}
        later = NOW + timedelta(days=3, hours=1)
        assert send(project, "--no-fetch", "--retry-deferred", at=later) == 1
    rows = outbox(project).values()
    assert {(row.status, row.failure) for row in rows} == {
        (OutboxStatus.FAILED, OutboxFailure.EXPIRED)
    }
    store = open_store(project)
    try:
        (outcome,) = store.recent_outcomes("alice@example.org", 3)
        assert outcome.bounced
        assert store.delivery_rates(NOW - timedelta(days=1)).bounced == 2
    finally:
        store.close()
