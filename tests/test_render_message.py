"""The MIME message: structure, headers, exact bytes, and no header injection."""

from __future__ import annotations

import email
import smtplib
import socket
from datetime import UTC, datetime
from email import policy

import pytest
import test_render_support as support
from aiosmtpd.controller import Controller

from newsletter.records import Message
from newsletter.render import HeaderError, RenderConfigError, Renderer

WHEN = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def build(name: str | None = "Rea Der", title: str = "Paper Digest", **kw: object) -> Message:
    renderer = Renderer(support.settings(title=title), verify=False)
    digest = support.digest(5, name=name)
    rendered = renderer.render(digest, unsubscribe_url=support.UNSUBSCRIBE)
    return renderer.message(
        digest,
        rendered,
        message_id=str(kw.get("message_id", "<run1.reader@digest.example.org>")),
        unsubscribe_url=support.UNSUBSCRIBE,
        unsubscribe_mailto="mailto:unsubscribe@digest.example.org?subject=unsubscribe",
        date=WHEN,
    )


def test_message_structure_and_headers() -> None:
    message = build()
    assert message.data.endswith(b"\r\n")
    assert b"\n" not in message.data.replace(b"\r\n", b"")
    assert max(len(line) for line in message.data.split(b"\r\n")) <= 78
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert text.get_content().replace("\r\n", "\n") == message.text
    assert html.get_content().replace("\r\n", "\n") == message.html
    assert parsed["To"] == "Rea Der <reader@example.com>"
    assert parsed["From"] == "Paper Digest <digest@example.org>"
    assert parsed["Subject"] == "Paper Digest: 5 new papers for your 3 topics"
    assert parsed["Date"] == "Thu, 26 Nov 2026 07:00:00 +0000"
    assert parsed["Message-ID"] == "<run1.reader@digest.example.org>"
    assert parsed["List-Unsubscribe"] == (
        f"<{support.UNSUBSCRIBE}>, <mailto:unsubscribe@digest.example.org?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Precedence"] == "bulk"
    assert parsed["List-Id"] == "Paper Digest <paper-digest.digest.example.org>"
    assert message.carried == support.digest(5).carried


def test_non_ascii_names_and_subject_are_encoded() -> None:
    message = build(name="Zoë Ünicode", title="Papiers du jour — été")
    head = message.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert parsed["To"].addresses[0].display_name == "Zoë Ünicode"
    assert parsed["Subject"].startswith("Papiers du jour — été: 5 new papers")


def test_line_breaks_in_feed_or_config_values_never_inject_headers() -> None:
    message = build(name="Eve\r\nBcc: victim@example.net")
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in message.data
    with pytest.raises(RenderConfigError):
        support.settings(title="Digest\r\nBcc: victim@example.net")
    with pytest.raises(RenderConfigError):
        support.settings(sender="Digest <d@example.org>\nBcc: victim@example.net")
    with pytest.raises(HeaderError):
        build(message_id="<id@host>\r\nBcc: victim@example.net")
    renderer = Renderer(support.settings(), verify=False)
    digest = support.digest(1)
    rendered = renderer.render(digest, unsubscribe_url=support.UNSUBSCRIBE)
    with pytest.raises(HeaderError):
        renderer.message(
            digest, rendered, message_id="<a@b>", unsubscribe_url="https://x.org/\r\nBcc: v@x"
        )


def test_message_travels_through_a_real_smtp_server() -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            received.append(envelope.original_content)  # type: ignore[attr-defined]
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = build()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(message.sender, [message.recipient], message.data)
    finally:
        controller.stop()
    assert received and received[0].rstrip(b"\r\n") == message.data.rstrip(b"\r\n")
