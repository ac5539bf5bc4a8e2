"""What a mail in the bounce mailbox says, and which message of ours it is about.

Four kinds are recognised:

- a delivery status notification (RFC 3464 ``multipart/report; report-type=delivery-status``),
  read field by field: ``Action: failed`` with a 5.1.x ``Status`` is a hard bounce, any
  other failure a soft one, ``delayed`` only news;
- a bounce in one of the many older formats (qmail, Exim, Postfix, Exchange…), found by
  flufl.bounce's detectors, with the enhanced status code looked up in its prose;
- a feedback-loop complaint (ARF, RFC 5965 ``report-type=feedback-report``): ``abuse`` and
  ``fraud`` are complaints, the other feedback types only news;
- a mail to a message's unsubscribe address (``local+u-<token>@…``).

Which message it is about comes from the return token of the address it was sent to, of
the original's ``Return-Path`` or of the ARF ``Original-Mail-From`` (see :mod:`.verp`),
else from the Message-ID of the quoted original. Nothing here trusts a mail: anything it
cannot read is :class:`Unreadable`, and the caller leaves that mail where it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from enum import StrEnum

from flufl.bounce import all_failures

from newsletter.deliver.replies import StatusCode, find_status
from newsletter.deliver.verp import Returned, Route, read_address
from newsletter.records import SuppressionReason

MAX_TEXT = 100_000
"""Characters of a bounce's prose searched for a status code or a quoted Message-ID."""
_RECIPIENT_HEADERS = (
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "to",
    "cc",
)
"""Where the address a mail was delivered to shows, most trustworthy first."""
_COMPLAINTS = frozenset({"abuse", "fraud"})
"""ARF feedback types that are a person (or their provider) calling the mail unwanted."""
_QUOTED = re.compile(
    r"^(message-id|return-path|list-unsubscribe|original-mail-from):[ \t]*(.*(?:\r?\n[ \t].*)*)",
    re.IGNORECASE | re.MULTILINE,
)
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")
_SEPARATOR = re.compile(
    r"^-{2,}.*(below this line|copy of|original message|returned message|message follows)",
    re.IGNORECASE | re.MULTILINE,
)
_AUTO_REPLY_SUBJECT = re.compile(r"^\s*(auto(matic)?[ -]?reply|out of (the )?office)", re.I)


class ReportFormat(StrEnum):
    DSN = "dsn"
    BOUNCE = "bounce"
    """A bounce in a format older than (or beside) RFC 3464."""
    ARF = "arf"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto-reply"


class Unreadable(Exception):
    """This mail is not a report we can read; it stays in the mailbox untouched."""


@dataclass(frozen=True, slots=True)
class Report:
    """One report, read: what it means and the clues to the message it is about."""

    format: ReportFormat
    verdict: SuppressionReason | None
    """What it does to the address; None for news that changes nothing (a delay, an
    automatic reply, a ``not-spam`` report)."""
    detail: str
    """What the report said, in a few words (``5.1.1 smtp; 550 no such user``)."""
    tokens: tuple[str, ...] = ()
    """Return tokens found, most trustworthy first."""
    message_ids: tuple[str, ...] = ()
    """Message-IDs of the quoted original, when it quotes one."""
    recipient: str | None = None
    """The address the report names (informational: the message's row decides)."""


def read_report(data: bytes) -> Report:
    """Read one mail; raises :class:`Unreadable` for anything else, never another error."""
    try:
        report = _read(message_from_bytes(data, policy=compat32), data)
    except Unreadable:
        raise
    except Exception as exc:  # hostile or broken input: one mail never stops the others
        raise Unreadable(f"cannot be parsed ({type(exc).__name__}: {_clean(str(exc))})") from exc
    recipient = _clean(report.recipient) if report.recipient else None
    return replace(report, detail=_clean(report.detail), recipient=recipient or None)


def _clean(text: str, limit: int = 300) -> str:
    """Text from a mail, safe to print and log: one line, no control or format characters
    (a terminal escape in a bounce must not reach the operator's terminal), bounded."""
    kept = "".join(
        " " if c.isspace() else c
        for c in text
        if unicodedata.category(c) not in ("Cc", "Cf") or c.isspace()
    )
    line = " ".join(kept.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _read(msg: Message, data: bytes) -> Report:
    route = _delivered_to(msg)
    if route is not None and route.route is Route.UNSUBSCRIBE:
        return Report(
            ReportFormat.UNSUBSCRIBE,
            SuppressionReason.UNSUBSCRIBE,
            "a mail to the unsubscribe address",
            (route.token,),
        )
    tokens = [route.token] if route is not None else []
    ids: list[str] = []
    for headers in _quoted_originals(msg):
        _clues(headers.items(), tokens, ids)
    if not tokens and not ids:
        _clues(_inline_headers(data), tokens, ids)
    report = _classify(msg, route)
    return Report(
        report.format,
        report.verdict,
        report.detail,
        tuple(dict.fromkeys([*report.tokens, *tokens])),
        tuple(dict.fromkeys(ids)),
        report.recipient,
    )


def _classify(msg: Message, route: Returned | None) -> Report:
    content_type = msg.get_content_type()
    report_type = str(msg.get_param("report-type", "") or "").lower()
    if content_type == "multipart/report" and report_type == "feedback-report":
        return _arf(msg)
    dsn = _dsn(msg)
    if dsn is not None:
        return dsn
    bounce = _other_bounce(msg)
    if bounce is not None:
        return bounce
    if route is not None and _auto_reply(msg):
        return Report(ReportFormat.AUTO_REPLY, None, "an automatic reply")
    raise Unreadable("not a bounce, complaint or unsubscribe request")


# -- the kinds ---------------------------------------------------------------------------


def _dsn(msg: Message) -> Report | None:
    blocks = [
        block
        for part in _parts(msg)
        if part.get_content_type() == "message/delivery-status"
        for block in _status_blocks(part)
        if block.get("action")
    ]
    if not blocks:
        return None
    failed = [b for b in blocks if str(b["action"]).strip().lower().startswith(("fail", "error"))]
    delayed = [b for b in blocks if str(b["action"]).strip().lower().startswith("delay")]
    block = (failed or delayed or blocks)[0]
    action = str(block["action"]).split()[0].lower()
    status_text = str(block.get("status", ""))
    diagnostic = " ".join(str(block.get("diagnostic-code", "")).split())
    status = find_status(status_text) or find_status(diagnostic)
    detail = " ".join(p for p in (str(status) if status else "", diagnostic) if p) or action
    recipient = _field_address(block.get("final-recipient") or block.get("original-recipient"))
    if failed:
        return Report(ReportFormat.DSN, _bounce_verdict(status), detail, recipient=recipient)
    return Report(ReportFormat.DSN, None, f"{action}: {detail}", recipient=recipient)


def _other_bounce(msg: Message) -> Report | None:
    temporary, permanent = all_failures(msg)
    if not temporary and not permanent:
        return None
    text = _notification_text(msg)
    status = find_status(text)
    named = sorted(permanent or temporary)
    recipient = named[0].decode("ascii", "replace") if named else None
    if permanent:
        detail = str(status) if status else "permanent failure"
        return Report(ReportFormat.BOUNCE, _bounce_verdict(status), detail, recipient=recipient)
    return Report(ReportFormat.BOUNCE, None, "delayed", recipient=recipient)


def _arf(msg: Message) -> Report:
    fields = next(
        (
            headers
            for part in _parts(msg)
            if part.get_content_type() == "message/feedback-report"
            for headers in _status_blocks(part)
        ),
        None,
    )
    if fields is None:
        raise Unreadable("a feedback report without its message/feedback-report part")
    kind = " ".join(str(fields.get("feedback-type", "")).split()).lower() or "unknown"
    tokens: list[str] = []
    _clues([("original-mail-from", str(fields.get("original-mail-from", "")))], tokens, [])
    verdict = SuppressionReason.COMPLAINT if kind in _COMPLAINTS else None
    recipient = _field_address(fields.get("original-rcpt-to"))
    return Report(ReportFormat.ARF, verdict, f"feedback type {kind}", tuple(tokens), (), recipient)


def _bounce_verdict(status: StatusCode | None) -> SuppressionReason:
    if status is not None and status.no_such_address:
        return SuppressionReason.BOUNCE_HARD
    return SuppressionReason.BOUNCE_SOFT


def _auto_reply(msg: Message) -> bool:
    submitted = str(msg.get("auto-submitted", "")).strip().lower()
    return (
        submitted.startswith("auto-replied")
        or msg.get("x-autoreply") is not None
        or str(msg.get("precedence", "")).strip().lower() == "auto_reply"
        or bool(_AUTO_REPLY_SUBJECT.match(str(msg.get("subject", ""))))
    )


# -- digging out the clues ---------------------------------------------------------------


def _delivered_to(msg: Message) -> Returned | None:
    for name in _RECIPIENT_HEADERS:
        values = [str(v) for v in msg.get_all(name, [])]
        for _display, address in getaddresses(values):
            found = read_address(address)
            if found is not None:
                return found
    return None


def _clues(headers: Iterable[tuple[str, object]], tokens: list[str], ids: list[str]) -> None:
    """Return tokens and Message-IDs from (name, value) pairs of a quoted original."""
    for raw_name, raw_value in headers:
        name, value = str(raw_name).lower(), str(raw_value)
        if name == "message-id":
            ids.extend(_MESSAGE_ID.findall(value)[:1])
        elif name in ("return-path", "original-mail-from", "list-unsubscribe"):
            for part in re.findall(r"[^\s<>,;]+@[^\s<>,;]+", value):
                found = read_address(part.removeprefix("mailto:").split("?")[0])
                if found is not None:
                    tokens.append(found.token)


def _quoted_originals(msg: Message) -> Iterator[Message]:
    """The headers of the original message a report quotes (``message/rfc822`` or
    ``text/rfc822-headers``), without descending into them further."""
    for part in _parts(msg):
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                yield payload[0]
        elif kind == "text/rfc822-headers":
            yield HeaderParser(policy=compat32).parsestr(_text_of(part))


def _inline_headers(data: bytes) -> list[tuple[str, str]]:
    """``Name: value`` lines of a quoted original in a bounce's prose (qmail, Exim…)."""
    _head, _, body = data.partition(b"\n\n")
    if not body:
        _head, _, body = data.partition(b"\r\n\r\n")
    text = body[: MAX_TEXT * 2].decode("latin-1")
    return [(name, " ".join(value.split())) for name, value in _QUOTED.findall(text)]


def _parts(msg: Message) -> Iterator[Message]:
    """Every part, but not the insides of a quoted message (its parts are not the report's)."""
    yield msg
    if msg.get_content_maintype() == "message" or not msg.is_multipart():
        return
    payload = msg.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _parts(part)


def _status_blocks(part: Message) -> list[Message]:
    """The header blocks of a ``message/delivery-status`` or ``message/feedback-report``."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = _text_of(part).replace("\r\n", "\n")
    parser = HeaderParser(policy=compat32)
    return [parser.parsestr(chunk) for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def _text_of(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return raw[:MAX_TEXT].decode(charset, "replace")
        except LookupError:
            return raw[:MAX_TEXT].decode("utf-8", "replace")
    payload = part.get_payload()
    return payload[:MAX_TEXT] if isinstance(payload, str) else ""


def _notification_text(msg: Message) -> str:
    """The human-readable part of a bounce, without the copy of the message it returns."""
    texts = [
        _text_of(part)
        for part in _parts(msg)
        if part.get_content_maintype() == "text"
        and part.get_content_type() != "text/rfc822-headers"
    ]
    text = "\n".join(texts)[:MAX_TEXT]
    cut = _SEPARATOR.search(text)
    return text[: cut.start()] if cut else text


def _field_address(value: object) -> str | None:
    """``rfc822; user@example.org`` → ``user@example.org``."""
    if value is None:
        return None
    address = str(value).partition(";")[2] or str(value)
    address = address.strip().strip("<>")
    return address or None
