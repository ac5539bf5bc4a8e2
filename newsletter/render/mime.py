"""MIME bytes built directly: headers written once per run where they can be, and the
bodies the renderer already encoded (:mod:`newsletter.render.encoding`) joined in.

Header values that come from config or feeds never carry a line break into the message:
configured values are refused up front (:class:`RenderSettings`), feed-derived text is
flattened to one line, and addresses, URLs and IDs with control characters are refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from urllib.parse import urlsplit

from newsletter.records import Digest, Message, RenderedDigest
from newsletter.render import textutil
from newsletter.render.errors import DigestRenderError
from newsletter.render.settings import RenderSettings

CRLF = b"\r\n"
_ADDR = re.compile(r"[^\s<>()\[\]\\,;:@\"]+@[^\s<>()\[\]\\,;:@\"]+")
_MSGID = re.compile(r"<[^\s<>]+@[^\s<>]+>")
_LIST_ID_LABEL = re.compile(r"[^a-z0-9-]+")
_FEEDBACK_ID = re.compile(r"[!-~]+(?: [!-~]+)*")


class HeaderError(DigestRenderError, ValueError):
    """A value cannot go into a mail header safely (it would inject or break a header)."""


def encode_header(name: str, value: str) -> bytes:
    """``Name: value`` folded to 78 columns, RFC 2047-encoded when not ASCII."""
    value = textutil.header_safe(value)
    if value.isascii() and len(name) + 2 + len(value) <= 78 and "=?" not in value:
        return f"{name}: {value}".encode("ascii") + CRLF  # what Header() gives, only faster
    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(value, charset, header_name=name).encode(linesep="\r\n")
    return f"{name}: {folded}".encode("ascii") + CRLF


def address(addr: str, name: str | None = None) -> str:
    """``"Display Name" <addr>`` with the name encoded when needed; refuses unsafe addresses."""
    if not _ADDR.fullmatch(addr) or any(ord(c) < 32 or ord(c) == 127 for c in addr):
        raise HeaderError(f"not a usable email address: {addr!r}")
    local, _, domain = addr.rpartition("@")
    if not local.isascii():
        raise HeaderError(f"non-ASCII local part needs SMTPUTF8, not supported: {addr!r}")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise HeaderError(f"bad domain in {addr!r}: {error}") from None
    clean_name = textutil.header_safe(name or "")
    return formataddr((clean_name, f"{local}@{domain}"), charset="utf-8")


def header_url(url: str, schemes: tuple[str, ...]) -> str:
    """A URL for ``List-Unsubscribe`` or ``Archived-At``; refuses whitespace, controls and
    other schemes."""
    if any(c.isspace() or ord(c) < 32 or c in "<>\x7f" for c in url):
        raise HeaderError(f"unsafe URL for a header: {url!r}")
    if urlsplit(url).scheme.lower() not in schemes:
        raise HeaderError(f"URL must use {' or '.join(schemes)}: {url!r}")
    return url


class MimeBuilder:
    """Writes messages for one run; the sender and list headers are encoded once."""

    def __init__(self, settings: RenderSettings) -> None:
        name, addr = parseaddr(settings.sender)
        self._sender_addr = addr
        host = urlsplit(settings.base_url).hostname or "localhost"
        label = _LIST_ID_LABEL.sub("-", settings.title.lower()).strip("-") or "digest"
        title = textutil.header_safe(settings.title)
        self._fixed = b"".join(
            [
                b"From: " + address(addr, name).encode("ascii") + CRLF,
                encode_header("List-Id", f"{title} <{label}.{host}>"),
                b"MIME-Version: 1.0" + CRLF,
                b"Auto-Submitted: auto-generated" + CRLF,
                b"Precedence: bulk" + CRLF,
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" + CRLF,
            ]
        )
        # Both parts are quoted-printable, where "=" is always escaped, so a boundary that
        # starts with "==" can never occur in them: it need not be random, and a fixed one
        # keeps a dry run byte-for-byte repeatable.
        self._boundary = "==newsletter-alternative=="
        part = (
            'Content-Type: text/{}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        b = self._boundary
        self._content_type = f'Content-Type: multipart/alternative;\r\n boundary="{b}"\r\n'.encode(
            "ascii"
        )
        self._text_head = f"\r\n--{b}\r\n{part.format('plain')}".encode("ascii")
        self._html_head = f"--{b}\r\n{part.format('html')}".encode("ascii")
        self._end = f"--{b}--\r\n".encode("ascii")

    def build(
        self,
        digest: Digest,
        rendered: RenderedDigest,
        *,
        message_id: str,
        date: datetime | None = None,
        unsubscribe_mailto: str | None = None,
        feedback_id: str | None = None,
    ) -> Message:
        """The message: headers, then the bodies ``rendered`` carries."""
        if not _MSGID.fullmatch(message_id):
            raise HeaderError(f"Message-ID must look like <id@host>: {message_id!r}")
        recipient = digest.subscriber.email
        unsubscribe = [f"<{header_url(rendered.links.unsubscribe_url, ('https', 'http'))}>"]
        if unsubscribe_mailto:
            unsubscribe.append(f"<{header_url(unsubscribe_mailto, ('mailto',))}>")
        moment = date or datetime.now(UTC)
        if moment.tzinfo is None:
            raise HeaderError("the Date header needs a timezone-aware datetime")
        extra: list[bytes] = []
        if rendered.links.view_url:
            url = header_url(rendered.links.view_url, ("https", "http"))
            extra.append(encode_header("Archived-At", f"<{url}>"))
        if feedback_id is not None:
            if not _FEEDBACK_ID.fullmatch(feedback_id) or len(feedback_id) > 200:
                raise HeaderError(f"Feedback-ID must be printable ASCII: {feedback_id!r}")
            extra.append(encode_header("Feedback-ID", feedback_id))
        head = b"".join(
            [
                self._fixed,
                b"To: " + address(recipient, digest.subscriber.name).encode("ascii") + CRLF,
                encode_header("Subject", rendered.subject),
                b"Date: " + format_datetime(moment).encode("ascii") + CRLF,
                b"Message-ID: " + message_id.encode("ascii") + CRLF,
                encode_header("List-Unsubscribe", ", ".join(unsubscribe)),
                *extra,
                self._content_type,
            ]
        )
        # Each body ends with CRLF (hard or soft); the line break before a boundary belongs
        # to the boundary, hence the extra CRLFs.
        data = b"".join(
            [
                head,
                self._text_head,
                rendered.text_qp,
                CRLF,
                self._html_head,
                rendered.html_qp,
                CRLF,
                self._end,
            ]
        )
        return Message(
            recipient=recipient,
            sender=self._sender_addr,
            message_id=message_id,
            subject=rendered.subject,
            data=data,
            html=rendered.html,
            text=rendered.text,
            carried=digest.carried,
        )
