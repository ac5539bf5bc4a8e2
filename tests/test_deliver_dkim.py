"""DKIM: the signature covers the one-click headers and verifies on the bytes received."""

from __future__ import annotations

import base64
import dataclasses
import re
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from smtp_sink import Sink, message, smtp_server

from newsletter.deliver.dkim import DkimError, dkim_sign
from newsletter.deliver.smtp import SmtpSender, SmtpSettings


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def dns_for(key: rsa.RSAPrivateKey) -> Any:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"sel1._domainkey.news.example.org."
        return record

    return dnsfunc


def sign(key: rsa.RSAPrivateKey, data: bytes, fmt: Any = None) -> bytes:
    fmt = fmt or serialization.PrivateFormat.PKCS8
    return dkim_sign(data, selector="sel1", domain="news.example.org", private_key=pem(key, fmt))


def signed_tags(signed: bytes) -> dict[str, str]:
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    sig = re.search(r"DKIM-Signature:(.*?)\r\n(?!\s)", header, re.S)
    assert sig is not None
    value = re.sub(r"\s+", "", sig.group(1))
    return dict(part.split("=", 1) for part in value.split(";") if part)


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_signature_verifies_on_the_bytes_the_server_received(
    key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat
) -> None:
    original = message("reader@example.com", 1)
    signed = sign(key, original.data, fmt)
    sink = Sink()
    with smtp_server(sink) as port:
        s = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)
        with SmtpSender(s) as sender:
            result = sender.send(dataclasses.replace(original, data=signed))
    assert result.status == "sent"
    ((_, received),) = sink.received
    assert received == signed
    assert dkim.verify(received, dnsfunc=dns_for(key))


def test_signed_headers_include_one_click_and_use_relaxed_rsa_sha256(
    key: rsa.RSAPrivateKey,
) -> None:
    tags = signed_tags(sign(key, message("r@example.com").data))
    assert tags["a"] == "rsa-sha256"
    assert tags["c"] == "relaxed/relaxed"
    assert tags["d"] == "news.example.org" and tags["s"] == "sel1"
    signed = tags["h"].lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id"):
        assert name in signed
    assert "list-unsubscribe" in signed
    assert "list-unsubscribe-post" in signed


def test_changing_or_adding_one_click_header_breaks_the_signature(
    key: rsa.RSAPrivateKey,
) -> None:
    signed = sign(key, message("r@example.com").data)
    dns = dns_for(key)
    assert dkim.verify(signed, dnsfunc=dns)
    tampered = signed.replace(b"unsubscribe?token=t0", b"unsubscribe?token=t9")
    assert tampered != signed
    assert not dkim.verify(tampered, dnsfunc=dns)
    # A second List-Unsubscribe-Post added on the way is caught by oversigning.
    head, body = signed.split(b"\r\n\r\n", 1)
    added = head + b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n" + body
    assert not dkim.verify(added, dnsfunc=dns)


def test_bare_line_feeds_are_signed_as_crlf(key: rsa.RSAPrivateKey) -> None:
    data = message("r@example.com").data.replace(b"\r\n", b"\n")
    signed = sign(key, data)
    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert dkim.verify(signed, dnsfunc=dns_for(key))


def test_bad_key_and_missing_from_are_clear_errors(key: rsa.RSAPrivateKey) -> None:
    data = message("r@example.com").data
    with pytest.raises(DkimError, match="not a valid RSA key") as caught:
        dkim_sign(data, selector="s", domain="d.example", private_key=b"-----BEGIN nonsense")
    assert "nonsense" not in str(caught.value)
    no_from = b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith(b"From:"))
    with pytest.raises(DkimError, match="no From header"):
        sign(key, no_from)
