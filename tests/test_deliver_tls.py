"""TLS is verified (chain and host name), and a failed login never reveals the password."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_sink import Sink, message, smtp_server, tls_server_context

from newsletter.deliver.smtp import SmtpError, SmtpSender, SmtpSettings

PASSWORD = "correct horse battery staple 9f3b"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def tls_settings(port: int, **kw: Any) -> SmtpSettings:
    base: dict[str, Any] = {"host": "127.0.0.1", "port": port, "timeout": 5.0}
    return SmtpSettings(**(base | kw))


def test_starttls_with_a_trusted_certificate_delivers(ca: trustme.CA, ca_file: str) -> None:
    sink = Sink()
    ctx = tls_server_context(ca.issue_cert("127.0.0.1"))
    with (
        smtp_server(sink, tls_context=ctx, require_starttls=True) as port,
        SmtpSender(tls_settings(port, security="starttls", ca_file=ca_file)) as sender,
    ):
        result = sender.send(message("a@example.com"))
    assert result.status == "sent", result.reply
    assert sink.count("a@example.com") == 1


def test_starttls_refuses_an_untrusted_certificate(ca: trustme.CA) -> None:
    sink = Sink()
    ctx = tls_server_context(ca.issue_cert("127.0.0.1"))
    with (
        smtp_server(sink, tls_context=ctx, require_starttls=True) as port,
        SmtpSender(tls_settings(port, security="starttls")) as sender,
    ):
        result = sender.send(message("a@example.com"))
    assert result.status == "deferred"
    assert "could not be verified" in result.reply
    assert "certificate" in result.reply
    assert sink.received == []


def test_starttls_refuses_a_certificate_for_another_host(ca: trustme.CA, ca_file: str) -> None:
    sink = Sink()
    ctx = tls_server_context(ca.issue_cert("mail.example.org"))
    with (
        smtp_server(sink, tls_context=ctx, require_starttls=True) as port,
        SmtpSender(tls_settings(port, security="starttls", ca_file=ca_file)) as sender,
    ):
        result = sender.send(message("a@example.com"))
    assert result.status == "deferred"
    assert "could not be verified" in result.reply
    assert "127.0.0.1" in result.reply
    assert sink.received == []


def test_starttls_is_required_when_configured() -> None:
    sink = Sink()
    with (
        smtp_server(sink) as port,  # no STARTTLS offered
        SmtpSender(tls_settings(port, security="starttls")) as sender,
    ):
        result = sender.send(message("a@example.com"))
    assert result.status == "deferred"
    assert "does not offer STARTTLS" in result.reply
    assert sink.received == []


def test_implicit_tls_verifies_and_delivers(ca: trustme.CA, ca_file: str) -> None:
    sink = Sink()
    ctx = tls_server_context(ca.issue_cert("127.0.0.1"))
    with (
        smtp_server(sink, ssl_context=ctx) as port,
        SmtpSender(tls_settings(port, security="ssl", ca_file=ca_file)) as sender,
    ):
        good = sender.send(message("a@example.com"))
        with SmtpSender(tls_settings(port, security="ssl")) as sender:
            bad = sender.send(message("b@example.com"))
    assert good.status == "sent", good.reply
    assert bad.status == "deferred" and "could not be verified" in bad.reply
    assert [r for r, _ in sink.received] == ["a@example.com"]


def test_unreadable_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SmtpError, match="cannot read the CA file"):
        SmtpSender(tls_settings(25, ca_file=str(tmp_path / "missing.pem")))


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"digest"
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def test_auth_success_and_failure_never_reveals_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = Sink()
    secrets = [
        PASSWORD,
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.b64encode(b"\0digest\0" + PASSWORD.encode()).decode(),
    ]
    with smtp_server(sink, authenticator=authenticator, auth_require_tls=False) as port:
        good = tls_settings(port, security="none", username="digest", password=PASSWORD)
        with SmtpSender(good) as sender:
            ok = sender.send(message("a@example.com"))
        bad = tls_settings(port, security="none", username="digest", password=PASSWORD + "x")
        with SmtpSender(bad) as sender:
            refused = sender.send(message("b@example.com"))
    assert ok.status == "sent", ok.reply
    assert refused.status == "deferred"
    assert refused.code == 535
    assert "refused the login for user 'digest'" in refused.reply
    everything = refused.reply + repr(bad) + caplog.text
    for secret in secrets + [s + "x" for s in secrets[:1]]:
        assert secret not in everything
    assert sink.count("b@example.com") == 0
