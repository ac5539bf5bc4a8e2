"""Return tokens: one short code per message, carried in the addresses that mail comes back to.

With ``bounce_address: bounces@example.org`` a message goes out with the envelope sender
(Return-Path) ``bounces+b-<token>@example.org``, and its ``List-Unsubscribe`` offers
``mailto:bounces+u-<token>@example.org``. A bounce (DSN) comes back to the first, a mailed
unsubscribe request to the second, and the token names the outbox row: no guessing from
the prose of a bounce which address it was about.

The token is 14 characters of lower-case base32 (70 bits) of an HMAC of the message's
Message-ID under ``NEWSLETTER_SECRET``: unguessable (nobody can forge a bounce that
suppresses someone else), stable for the same message, and safe when a mail system
lower-cases the local part. With its ``b-`` or ``u-`` prefix it is 16 characters, so
``local+<16>`` fits the 64 octets an address's local part may have (the config checks
``bounce_address`` for that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

TOKEN_LENGTH = 14
_PURPOSE = b"newsletter/verp"
_ADDRESS = re.compile(r"\+([bu])-([a-z2-7]{14})@[^@\s<>]+$", re.IGNORECASE)


class Route(StrEnum):
    """Which of a message's two return addresses a mail was sent to."""

    BOUNCE = "b"
    """The envelope sender: delivery status notifications and other bounces."""
    UNSUBSCRIBE = "u"
    """The ``mailto:`` in ``List-Unsubscribe``: a person asking to stop."""


@dataclass(frozen=True, slots=True)
class Returned:
    """A return address read back: which route, and the message's token."""

    route: Route
    token: str


def token_for(message_id: str, secret: str) -> str:
    """The message's return token (lower-case base32, :data:`TOKEN_LENGTH` characters)."""
    key = hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()
    mac = hmac.new(key, message_id.encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(mac).decode("ascii").lower()[:TOKEN_LENGTH]


def _with(bounce_address: str, route: Route, token: str) -> str:
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{route.value}-{token}@{domain}"


def envelope_sender(bounce_address: str, token: str) -> str:
    """``local+b-<token>@domain``: where bounces of this message come back."""
    return _with(bounce_address, Route.BOUNCE, token)


def unsubscribe_address(bounce_address: str, token: str) -> str:
    """``local+u-<token>@domain``: a mail here unsubscribes the message's recipient."""
    return _with(bounce_address, Route.UNSUBSCRIBE, token)


def read_address(address: str) -> Returned | None:
    """The route and token of a return address (any case), None for any other address."""
    found = _ADDRESS.search(address.strip())
    if found is None:
        return None
    return Returned(Route(found.group(1).lower()), found.group(2).lower())
