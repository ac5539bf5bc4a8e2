"""The bounce fixtures (tests/fixtures/bounces/), filled in for one outbox message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"


@dataclass(frozen=True)
class Filled:
    """What a fixture's placeholders stand for."""

    token: str
    message_id: str
    recipient: str
    bounce_address: str = "bounces@example.org"

    @property
    def verp(self) -> str:
        local, _, domain = self.bounce_address.rpartition("@")
        return f"{local}+b-{self.token}@{domain}"

    @property
    def unsubscribe(self) -> str:
        local, _, domain = self.bounce_address.rpartition("@")
        return f"{local}+u-{self.token}@{domain}"


def fixture(name: str, filled: Filled) -> bytes:
    """The fixture with CRLF line ends (as IMAP stores mail) and its placeholders filled."""
    data = (FIXTURES / name).read_bytes()
    for key, value in {
        "{{VERP}}": filled.verp,
        "{{UNSUBSCRIBE}}": filled.unsubscribe,
        "{{MESSAGE_ID}}": filled.message_id,
        "{{RECIPIENT}}": filled.recipient,
    }.items():
        data = data.replace(key.encode(), value.encode())
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
