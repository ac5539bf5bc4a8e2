"""How to reach the relay: one record, validated once, whatever builds it (``.env``, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

SecurityMode = Literal["starttls", "ssl", "none"]
SECURITY_MODES: tuple[str, ...] = get_args(SecurityMode)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


class SmtpError(Exception):
    """A delivery problem with context (host, step, server reply); never carries a secret."""


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the relay. ``password`` is hidden from ``repr`` so it never reaches a log."""

    host: str = "localhost"
    port: int = 25
    security: str = "starttls"
    """``starttls`` (upgrade, verified), ``ssl`` (implicit TLS, verified) or ``none``."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    """Seconds for every network operation (connect, each command, each reply)."""
    connections: int = 2
    rate_per_second: float | None = None
    messages_per_connection: int = 100
    allow_insecure: bool = False
    """Permit ``security="none"`` to a host other than localhost (plaintext on the wire)."""
    ca_file: str | None = None
    """Extra CA bundle to trust (a private CA, or a test's self-signed certificate)."""
    local_hostname: str | None = None
    """Name given in EHLO; the machine's FQDN when None."""

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise SmtpError(
                f"SMTP security must be one of {', '.join(SECURITY_MODES)}, got {self.security!r}"
            )
        if not self.host:
            raise SmtpError("SMTP host is empty")
        if not 0 < self.port < 65536:
            raise SmtpError(f"SMTP port must be between 1 and 65535, got {self.port}")
        if self.timeout <= 0:
            raise SmtpError(f"SMTP timeout must be positive, got {self.timeout}")
        if self.connections < 1:
            raise SmtpError(f"SMTP connections must be at least 1, got {self.connections}")
        if self.messages_per_connection < 1:
            raise SmtpError(
                "messages per SMTP connection must be at least 1, "
                f"got {self.messages_per_connection}"
            )
        if self.rate_per_second is not None and self.rate_per_second <= 0:
            raise SmtpError(f"SMTP rate must be positive, got {self.rate_per_second}")
        if (self.username is None) != (self.password is None):
            raise SmtpError("set both the SMTP username and password, or neither")
        if (
            self.security == "none"
            and self.host.lower() not in LOCAL_HOSTS
            and not self.allow_insecure
        ):
            raise SmtpError(
                f"SMTP security 'none' would send mail{' and password' if self.username else ''}"
                f" to {self.host} unencrypted; it is allowed only for localhost. "
                "Use 'starttls' or 'ssl', or allow it explicitly (allow_insecure)."
            )
