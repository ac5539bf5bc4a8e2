"""Sign-up, confirmation and self-service against a real store (SQLite and PostgreSQL) and a
real SMTP server: the domain layer under the web pages and ``subscribers import``."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from email.message import Message as MailMessage

import pytest

from newsletter.app import load_checked_config
from newsletter.checks import check_query
from newsletter.config import read_environment
from newsletter.records import SubscriberOrigin, SubscriberStatus, SuppressionReason
from newsletter.store import Store
from newsletter.subscriptions import roster
from newsletter.subscriptions.confirmations import ConfirmationSender
from newsletter.subscriptions.signup import Form, Outcome, Subscriptions
from newsletter.tokens import BadToken
from tests.conftest import NOW, Project, Sink
from tests.web_support import Clock

SECRET = "s" * 40
SUBSCRIBE_ON = "subscribe:\n  enabled: true\n  confirm_hours: 48\n"


def _service(
    project: Project, sink: Sink | None, clock: Clock, extra: str = SUBSCRIBE_ON
) -> tuple[Subscriptions, ConfirmationSender, Store]:
    project.config.write_text(project.config.read_text() + extra, encoding="utf-8")
    config = load_checked_config(project.config)
    env_values = {"NEWSLETTER_SECRET": SECRET}
    if sink is not None:
        env_values |= {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_SECURITY": "none",
        }
    env = read_environment(project.env_file(**env_values))
    store = Store.open(config.database_url)
    sender = ConfirmationSender(config, store, secret=SECRET, smtp=env.smtp, clock=clock)
    service = Subscriptions(
        config, store, secret=SECRET, now=clock, notify=sender, query_check=check_query
    )
    return service, sender, store


def _link(message: MailMessage) -> str:
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()
    found = re.search(r"https://\S+/confirm\?token=\S+", body)
    assert found, body
    return found.group(0)


def _token(url: str) -> str:
    return url.split("token=", 1)[1]


def test_sign_up_mails_a_confirmation_and_only_confirming_makes_a_subscriber(
    project: Project, smtp_sink: Sink
) -> None:
    clock = Clock(NOW)
    service, sender, store = _service(project, smtp_sink, clock)
    form = Form(email="Carol@Example.org", name="Carol", topics=["ssl", "trending"])
    answer = service.request(form, client="192.0.2.7")
    assert answer.outcome is Outcome.CHECK_YOUR_MAIL
    listed = roster(service.config, store, clock()).find("carol@example.org")
    assert listed is not None and listed.status is SubscriberStatus.PENDING
    assert "carol@example.org" not in {
        s.email for s in roster(service.config, store, clock()).receiving()
    }

    tally = sender.send_due()
    assert tally.sent == 1
    [mail] = smtp_sink.messages()
    assert mail["To"].endswith("<carol@example.org>")
    assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    assert 'style="' in html.get_payload(decode=True).decode()  # inlined by premailer

    clock.advance(timedelta(minutes=3))
    confirmed = service.confirm(_token(_link(mail)), client="192.0.2.8")
    assert confirmed.email == "carol@example.org" and not confirmed.again
    stored = store.stored_subscriber("carol@example.org")
    assert stored is not None and stored.origin is SubscriberOrigin.WEB
    assert stored.confirmed_at == clock() and stored.confirmed_from == "192.0.2.8"
    receiving = {s.email: s for s in roster(service.config, store, clock()).receiving()}
    assert [t.id for t in receiving["carol@example.org"].topics] == ["ssl", "trending"]
    # the same link again: a friendly "already confirmed", not an error
    assert service.confirm(_token(_link(mail)), client=None).again


def test_known_and_new_addresses_get_the_same_answer_and_at_most_one_mail_an_hour(
    project: Project, smtp_sink: Sink
) -> None:
    clock = Clock(NOW)
    service, sender, _store = _service(project, smtp_sink, clock)
    answers = [
        service.request(Form(email=address, topics=["ssl"]), client=None)
        for address in ["alice@example.org", "new@example.org", "new@example.org"]
    ]
    assert {a.outcome for a in answers} == {Outcome.CHECK_YOUR_MAIL}
    assert sender.send_due().sent == 2  # alice once, new once (the repeat mailed nothing)
    clock.advance(timedelta(minutes=61))
    service.request(Form(email="new@example.org", topics=["ssl"]), client=None)
    assert sender.send_due().sent == 1


def test_concurrent_requests_for_one_address_queue_one_mail(project: Project) -> None:
    clock = Clock(NOW)
    service, _sender, store = _service(project, None, clock)
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        service.request(Form(email="race@example.org", topics=["ssl"]), client=None)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [r for r in store.outbox_rows() if r.subscriber == "race@example.org"]
    assert len(rows) == 1


def test_a_suppressed_address_comes_back_only_by_confirming(
    project: Project, smtp_sink: Sink
) -> None:
    clock = Clock(NOW)
    service, sender, store = _service(project, smtp_sink, clock)
    store.suppress("bob@example.org", SuppressionReason.COMPLAINT, clock())
    service.request(Form(email="bob@example.org", topics=["speech"]), client=None)
    assert store.is_suppressed("bob@example.org")  # asking is not enough
    sender.send_due()
    mail = smtp_sink.messages()[-1]
    service.confirm(_token(_link(mail)), client="192.0.2.9")
    assert not store.is_suppressed("bob@example.org")


def test_forged_expired_and_wrong_purpose_tokens_are_refused(
    project: Project, smtp_sink: Sink
) -> None:
    clock = Clock(NOW)
    service, sender, _store = _service(project, smtp_sink, clock)
    service.request(Form(email="dan@example.org", topics=["ssl"]), client=None)
    sender.send_due()
    token = _token(_link(smtp_sink.messages()[-1]))
    with pytest.raises(BadToken):
        service.confirm(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), client=None)
    with pytest.raises(BadToken):
        service.reader(token)  # a confirm token is no manage token
    clock.advance(timedelta(hours=49))
    with pytest.raises(BadToken, match="expired"):
        service.confirm(token, client=None)


def test_form_problems_are_per_field_and_nothing_is_recorded(project: Project) -> None:
    clock = Clock(NOW)
    service, _sender, store = _service(
        project,
        None,
        clock,
        "subscribe:\n  enabled: true\n  allowed_domains: [example.org]\n",
    )
    answer = service.request(
        Form(
            email="x@elsewhere.net",
            topics=["nope"],
            schedule="hourly",
            timezone="Mars/Olympus",
            own_topic='"unclosed',
        ),
        client=None,
    )
    assert answer.outcome is Outcome.INVALID
    assert set(answer.problems) == {"email", "topics", "schedule", "timezone", "own_topic"}
    assert store.signups() == []


def test_max_subscribers_counts_pending_and_confirmed(project: Project) -> None:
    clock = Clock(NOW)
    service, _sender, _store = _service(
        project, None, clock, "subscribe:\n  enabled: true\n  max_subscribers: 2\n"
    )
    outcomes = [
        service.request(Form(email=f"p{i}@example.org", topics=["ssl"]), client=None).outcome
        for i in range(3)
    ]
    assert outcomes == [Outcome.CHECK_YOUR_MAIL, Outcome.CHECK_YOUR_MAIL, Outcome.FULL]


def test_manage_changes_pause_and_unsubscribe(project: Project, smtp_sink: Sink) -> None:
    clock = Clock(NOW)
    service, sender, store = _service(project, smtp_sink, clock)
    service.request(Form(email="erin@example.org", topics=["ssl"]), client=None)
    sender.send_due()
    service.confirm(_token(_link(smtp_sink.messages()[-1])), client=None)
    answer = service.change(
        "erin@example.org",
        Form(topics=["speech"], own_topic="diffusion", schedule="daily", timezone="Asia/Tokyo"),
    )
    assert answer.outcome is Outcome.CHECK_YOUR_MAIL
    sub = {s.email: s for s in roster(service.config, store, clock()).receiving()}[
        "erin@example.org"
    ]
    assert [t.id for t in sub.topics] == ["speech", "erin@example.org#own"]
    assert sub.timezone == "Asia/Tokyo"
    # a YAML subscriber can pause but not change topics on the web
    assert service.change("alice@example.org", Form(topics=["speech"])).outcome is Outcome.INVALID
    until = service.pause("alice@example.org", 2)
    assert until == clock() + timedelta(weeks=2)
    listed = roster(service.config, store, clock()).find("alice@example.org")
    assert listed is not None and listed.status is SubscriberStatus.PAUSED
    clock.advance(timedelta(weeks=2, minutes=1))
    listed = roster(service.config, store, clock()).find("alice@example.org")
    assert listed is not None and listed.status is SubscriberStatus.ACTIVE
    service.unsubscribe("erin@example.org")
    listed = roster(service.config, store, clock()).find("erin@example.org")
    assert listed is not None and listed.status is SubscriberStatus.SUPPRESSED
