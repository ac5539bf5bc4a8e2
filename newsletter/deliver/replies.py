"""Enhanced status codes (RFC 3463) in SMTP replies and DSNs, and which ones condemn an address.

A ``5.1.x`` code says the destination mailbox or domain does not exist (or cannot take
mail at all): retrying is pointless and mailbox providers count every further attempt
against the sender. Other permanent codes (``5.7.1`` policy, ``5.2.2`` mailbox full,
``5.3.4`` too big) may concern this message or this moment, so they fail the message but
leave the address alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IN_REPLY = re.compile(r"^\s*[245]\d\d[ -]([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_ANYWHERE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")

_NOT_THE_RECIPIENT = frozenset({7, 8})
"""5.1.7 and 5.1.8 are about the *sender's* address: a relay that dislikes our envelope
sender must never cost every reader their subscription."""


@dataclass(frozen=True, slots=True)
class StatusCode:
    """``class.subject.detail``, e.g. 5.1.1 (permanent, addressing, no such mailbox)."""

    klass: int
    subject: int
    detail: int

    def __str__(self) -> str:
        return f"{self.klass}.{self.subject}.{self.detail}"

    @property
    def permanent(self) -> bool:
        return self.klass == 5

    @property
    def no_such_address(self) -> bool:
        """5.1.1–5.1.10 about the recipient: the mailbox or its domain does not exist."""
        return (
            self.klass == 5
            and self.subject == 1
            and 1 <= self.detail <= 10
            and self.detail not in _NOT_THE_RECIPIENT
        )


def reply_status(reply: str) -> StatusCode | None:
    """The enhanced code right after the basic one (``550 5.1.1 …``), None when absent."""
    found = _IN_REPLY.match(reply)
    return _code(found) if found else None


def find_status(text: str) -> StatusCode | None:
    """The first enhanced code anywhere in ``text`` (a DSN's ``Status:``, a bounce's prose)."""
    found = _ANYWHERE.search(text)
    return _code(found) if found else None


def _code(found: re.Match[str]) -> StatusCode:
    return StatusCode(int(found.group(1)), int(found.group(2)), int(found.group(3)))
