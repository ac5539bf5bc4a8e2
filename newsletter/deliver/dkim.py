"""DKIM signing (rsa-sha256, relaxed/relaxed) that covers the one-click unsubscribe headers.

Gmail and Yahoo only honour ``List-Unsubscribe-Post`` when DKIM covers it, and
dkimpy's default header list leaves it out; so the list is chosen here. The
signature is computed over CRLF-normalised bytes and returned prepended to those
same bytes, which are what the sender must put on the wire unchanged.

dkimpy is an optional extra (``pip install newsletter[dkim]``), imported on first use.
"""

from __future__ import annotations

import re

__all__ = ["SIGNED_HEADERS", "DkimError", "dkim_sign"]

SIGNED_HEADERS = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "auto-submitted",
    "precedence",
    "feedback-id",
)
"""Header fields signed whenever present."""

OVERSIGNED = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
"""Listed once more than they occur (RFC 6376 §8.15), so nobody can add another copy, or
add one that was absent, without breaking the signature. This is also why
``List-Unsubscribe-Post`` is always in ``h=``."""

_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)


class DkimError(ValueError):
    """Signing is impossible with this key or message; the message is safe to show."""


def _header_names(data: bytes) -> list[str]:
    head, sep, _body = data.partition(b"\r\n\r\n")
    if not sep:
        raise DkimError("message has no blank line between header and body")
    return [m.group(1).decode("ascii").lower() for m in _HEADER_NAME.finditer(head)]


def include_headers(data: bytes) -> list[str]:
    """The ``h=`` list for a CRLF message: present signed fields in order, then oversigned ones."""
    names = [name for name in _header_names(data) if name in SIGNED_HEADERS]
    if "from" not in names:
        raise DkimError("message has no From header; DKIM requires signing it")
    return names + list(OVERSIGNED)


def dkim_sign(data: bytes, *, selector: str, domain: str, private_key: bytes) -> bytes:
    """Return ``DKIM-Signature: …`` followed by ``data`` (line ends normalised to CRLF).

    The result is exactly what must be sent: any change, even re-folding a header,
    can break the signature.
    """
    try:
        import dkim
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise DkimError(
            "DKIM signing needs the dkimpy package: pip install 'newsletter[dkim]'"
        ) from exc
    data = _LINE_ENDS.sub(b"\r\n", data)
    headers = [name.encode("ascii") for name in include_headers(data)]
    try:
        signature = dkim.sign(
            data,
            selector.encode("ascii"),
            domain.encode("ascii"),
            private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=b"rsa-sha256",
            include_headers=headers,
            linesep=b"\r\n",
        )
    except UnicodeEncodeError:
        raise DkimError(
            f"DKIM selector and domain must be ASCII (use the IDNA form): {selector!r}, {domain!r}"
        ) from None
    except dkim.KeyFormatError:
        # Never echo the key: it is the secret.
        raise DkimError("the DKIM private key is not a valid RSA key in PEM format") from None
    except dkim.DKIMException as exc:
        raise DkimError(f"DKIM signing failed: {exc}") from None
    return bytes(signature) + data
