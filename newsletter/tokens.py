"""Signed tokens: a link that works for one address and one purpose only and cannot be forged.

A token is ``<payload>.<signature>``, both unpadded base64url. The payload carries
the issue time and the address; the signature is an HMAC-SHA256 over the payload
under a key derived from ``NEWSLETTER_SECRET``. Nothing is stored server side, so
a token keeps working across restarts and needs no database lookup to check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

_VERSION = b"v1"
PURPOSES = ("unsubscribe", "confirm", "manage")
"""Each purpose signs with its own subkey: a manage link cannot confirm a sign-up, and so on."""
_SIG_BYTES = 16
"""128-bit tags: forging one takes 2**128 guesses, far past any online attack."""
_CLOCK_SKEW = timedelta(minutes=5)
"""Tokens issued this far in the future (another host's clock) are still accepted."""


class BadToken(ValueError):
    """A token that is malformed, forged, tampered with or expired; the message is safe to show."""


def _key(secret: str, purpose: str) -> bytes:
    # A purpose-bound subkey, so the same secret used elsewhere never yields a valid token here.
    if not secret:
        raise ValueError("NEWSLETTER_SECRET is empty; set it to a long random string")
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    label = f"newsletter/{purpose}".encode()
    return hmac.new(secret.encode("utf-8"), label, hashlib.sha256).digest()


def _sign(payload: bytes, secret: str, purpose: str) -> bytes:
    mac = hmac.new(_key(secret, purpose), _VERSION + b"." + payload, hashlib.sha256)
    return mac.digest()[:_SIG_BYTES]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("This link is damaged (it is not valid base64).") from exc
    # base64 lets the unused low bits of the last character vary; insist on the one
    # canonical spelling so that no edited token decodes to the same bytes.
    if _b64encode(raw) != text:
        raise BadToken("This link is damaged.")
    return raw


def make_token(email: str, secret: str, *, now: datetime, purpose: str = "unsubscribe") -> str:
    """Return a URL-safe token binding ``email`` to ``purpose``, issued at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    payload = f"{int(now.timestamp())}:{email}".encode()
    return f"{_b64encode(payload)}.{_b64encode(_sign(payload, secret, purpose))}"


def read_token(
    token: str,
    secret: str,
    *,
    now: datetime,
    max_age: timedelta | None = None,
    purpose: str = "unsubscribe",
) -> str:
    """Return the address a token was made for; raise :class:`BadToken` when it is not genuine.

    ``max_age`` None means tokens never expire, which suits unsubscribe links: a
    person may find an old digest and must still be able to stop the mail.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not token or len(token) > 2048 or token.count(".") != 1:
        raise BadToken("This link is incomplete or damaged.")
    payload_text, sig_text = token.split(".")
    payload = _b64decode(payload_text)
    signature = _b64decode(sig_text)
    if not hmac.compare_digest(signature, _sign(payload, secret, purpose)):
        raise BadToken(
            "This link is not valid: it was changed or was not issued by this newsletter."
        )
    # Past this point the payload is ours, so a parse failure is a bug, not user input.
    stamp, _, email = payload.decode("utf-8").partition(":")
    issued = datetime.fromtimestamp(int(stamp), tz=UTC)
    if issued > now + _CLOCK_SKEW:
        raise BadToken("This link is not valid yet; check the server clock.")
    if max_age is not None and now - issued > max_age:
        raise BadToken("This link has expired. Use the link in a more recent digest.")
    return email


def token_issued(token: str) -> datetime:
    """When a token that :func:`read_token` accepted was issued."""
    payload = _b64decode(token.split(".")[0])
    return datetime.fromtimestamp(int(payload.decode("utf-8").partition(":")[0]), tz=UTC)
