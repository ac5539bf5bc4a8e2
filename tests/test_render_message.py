"""The MIME message: structure, headers, exact bytes, and no header injection."""

from __future__ import annotations

import email
import smtplib
import socket
from dataclasses import replace
from datetime import UTC, datetime
from email import policy

import pytest
import test_render_support as support
from aiosmtpd.controller import Controller

from newsletter.records import DigestLinks, Message
from newsletter.render import DigestRenderError, HeaderError, RenderConfigError, Renderer

WHEN = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def build(
    name: str | None = "Rea Der",
    title: str = "Paper Digest",
    links: DigestLinks = support.LINKS,
    feedback_id: str | None = None,
    **kw: object,
) -> Message:
    renderer = Renderer(support.settings(title=title), verify=False)
    digest = support.digest(5, name=name)
    rendered = renderer.render(digest, links)
    return renderer.message(
        digest,
        rendered,
        message_id=str(kw.get("message_id", "<run1.reader@digest.example.org>")),
        unsubscribe_mailto="mailto:unsubscribe@digest.example.org?subject=unsubscribe",
        date=WHEN,
        feedback_id=feedback_id,
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
    assert parsed["Archived-At"] is None and parsed["Feedback-ID"] is None
    assert message.carried == support.digest(5).carried


def test_archive_link_and_feedback_id_headers() -> None:
    message = build(links=support.ALL_LINKS, feedback_id="daily-2026-11-26:papers:digest:news")
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert parsed["Archived-At"] == f"<{support.VIEW}>"  # RFC 5064
    assert parsed["Feedback-ID"] == "daily-2026-11-26:papers:digest:news"


def test_the_bodies_are_the_encoded_parts_the_renderer_measured() -> None:
    renderer = Renderer(support.settings(), verify=False)
    digest = support.digest(8)
    rendered = renderer.render(digest, support.ALL_LINKS)
    message = renderer.message(digest, rendered, message_id="<a@b>", date=WHEN)
    _, _, body = message.data.partition(b"\r\n\r\n")
    assert rendered.html_qp in body and rendered.text_qp in body
    assert rendered.html_size == len(rendered.html_qp) > len(rendered.html.encode())


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
    with pytest.raises(HeaderError):
        build(feedback_id="a:b\r\nBcc: victim@example.net")
    with pytest.raises(HeaderError):
        build(links=DigestLinks(support.UNSUBSCRIBE, view_url="https://x.org/\nBcc: v@x"))
    renderer = Renderer(support.settings(), verify=False)
    digest = support.digest(1)
    rendered = renderer.render(digest, DigestLinks("https://x.org/u?t=1"))
    bad = replace(rendered, links=DigestLinks("https://x.org/\r\nBcc: v@x"))
    with pytest.raises(HeaderError) as raised:
        renderer.message(digest, bad, message_id="<a@b>")
    assert isinstance(raised.value, DigestRenderError), "one digest's problem, not the run's"


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
