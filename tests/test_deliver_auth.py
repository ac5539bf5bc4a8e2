"""SMTP AUTH against a real aiosmtpd that requires it: UTF-8 credentials, and a refused login
that pauses the run instead of spending attempts (and never shows the password)."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from newsletter.deliver.smtp import SmtpSender, SmtpSettings
from newsletter.records import OutboxStatus, SendFailure
from tests.conftest import Project
from tests.smtp_sink import Sink, message, smtp_server
from tests.test_deliver_refusals import open_store, outbox
from tests.test_outbox import send, use_sink

# Loopback only: AUTH without TLS is what these servers are for (aiosmtpd warns about it).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER = "digest-sender"
PASSWORD = "Grüße-aus-Köln-€-密码"


class Authenticator:
    """Accepts one user and password (compared as the UTF-8 bytes the client sent)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, bytes]] = []
        self.lock = threading.Lock()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        with self.lock:
            self.seen.append((mechanism, auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode("utf-8")
        return AuthResult(success=ok, handled=False)  # a refusal answers 535 5.7.8


def auth_server(sink: Sink, authenticator: Authenticator, **kw: Any) -> Any:
    return smtp_server(
        sink, authenticator=authenticator, auth_require_tls=False, auth_required=True, **kw
    )


def test_a_non_ascii_password_is_sent_as_utf8_and_the_digests_go_out(project: Project) -> None:
    sink, authenticator = Sink(), Authenticator()
    with auth_server(sink, authenticator) as port:
        use_sink(project, port, SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD)
        assert send(project) == 0
    assert sorted(sink.recipients()) == ["alice@example.org", "bob@example.org"]
    assert {mechanism for mechanism, _, _ in authenticator.seen} == {"PLAIN"}
    assert {password for _, _, password in authenticator.seen} == {PASSWORD.encode("utf-8")}


def test_login_is_used_when_the_relay_offers_no_plain() -> None:
    sink, authenticator = Sink(), Authenticator()
    with auth_server(sink, authenticator, auth_exclude_mechanism=["PLAIN"]) as port:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            username=USER,
            password=PASSWORD,
            timeout=5,
        )
        with SmtpSender(settings) as sender:
            result = sender.send(message("reader@example.com"))
    assert result.status is OutboxStatus.SENT, result.reply
    assert [mechanism for mechanism, _, _ in authenticator.seen] == ["LOGIN"]


def test_a_refused_login_pauses_the_run_with_nothing_left_sending(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-Pässword-9f8e7d"
    sink, authenticator = Sink(), Authenticator()
    with auth_server(sink, authenticator) as port:
        use_sink(project, port, SMTP_USERNAME=USER, SMTP_PASSWORD=wrong)
        assert send(project) == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "paused: the relay refused the login: " in output
    assert "535" in output
    for secret in (
        wrong,
        base64.b64encode(wrong.encode()).decode(),
        base64.b64encode(b"\0" + USER.encode() + b"\0" + wrong.encode()).decode(),
    ):
        assert secret not in output
    rows = outbox(project)
    assert {row.status for row in rows.values()} == {OutboxStatus.PENDING}
    assert {row.attempts for row in rows.values()} == {0}
    assert sink.received == []
    store = open_store(project)
    pause = store.relay_pause()
    store.close()
    assert pause is not None and "refused the login" in pause.reason
    assert wrong not in pause.reason


def test_a_refused_login_is_told_apart_from_an_unreachable_relay() -> None:
    sink, authenticator = Sink(), Authenticator()
    with auth_server(sink, authenticator) as port:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            username=USER,
            password="nope",
            timeout=5,
        )
        with SmtpSender(settings) as sender:
            refused = sender.send(message("reader@example.com"))
    unreachable_settings = SmtpSettings(host="127.0.0.1", port=1, security="none", timeout=5)
    with SmtpSender(unreachable_settings) as sender:
        unreachable = sender.send(message("reader@example.com"))
    assert refused.status is OutboxStatus.DEFERRED and refused.failure is SendFailure.AUTH
    assert f"refused the login for user {USER!r}" in refused.reply
    assert unreachable.failure is SendFailure.UNREACHABLE
