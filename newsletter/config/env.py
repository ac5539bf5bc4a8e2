"""Settings that come from the environment (and ``.env``): secrets and deployment details.

Real environment variables win over ``.env``; nothing else in the program reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from newsletter.config.errors import ConfigError, Problem, display_path

SECURITY_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class Environment:
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: str = "starttls"
    config_path: Path = Path("config/newsletter.yaml")
    database_url: str | None = None
    secret: str | None = field(default=None, repr=False)
    source: str = ".env"
    """Where the values came from, for messages."""
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key_file: str | None = None
    smtp_timeout: float = 30.0
    smtp_connections: int = 2
    smtp_rate: float | None = None
    smtp_messages_per_connection: int = 100
    smtp_allow_insecure: bool = False
    smtp_ca_file: str | None = None

    @property
    def dkim_enabled(self) -> bool:
        return bool(self.dkim_selector and self.dkim_domain and self.dkim_private_key_file)

    def require_smtp(self) -> None:
        """A real send needs a server: name the missing variable rather than fail on connect."""
        problems: list[Problem] = []
        if not self.smtp_host:
            problems.append(
                Problem(
                    self.source,
                    None,
                    "SMTP_HOST is not set — add SMTP_HOST=smtp.example.org "
                    "to .env (or export it), or use send --dry-run",
                )
            )
        if self.smtp_username and not self.smtp_password:
            problems.append(
                Problem(
                    self.source,
                    None,
                    "SMTP_USERNAME is set but SMTP_PASSWORD is not — add "
                    "SMTP_PASSWORD=… to .env or remove SMTP_USERNAME",
                )
            )
        if problems:
            raise ConfigError(problems)

    def require_secret(self) -> str:
        if not self.secret or len(self.secret) < 16:
            raise ConfigError(
                [
                    Problem(
                        self.source,
                        None,
                        "NEWSLETTER_SECRET is missing or shorter than 16 "
                        "characters — set it to a long random string, e.g. the output of "
                        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
                    )
                ]
            )
        return self.secret

    @property
    def smtp_port_or_default(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"ssl": 465, "starttls": 587}.get(self.smtp_security, 25)


def read_environment(
    env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None
) -> Environment:
    """Merge ``.env`` (if present) under the real environment and validate the values."""
    values: dict[str, str] = {}
    shown = display_path(env_file) if env_file else "environment"
    lines: dict[str, int] = {}
    if env_file is not None and env_file.is_file():
        for line_no, line in enumerate(env_file.read_text(encoding="utf-8").splitlines(), 1):
            key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if key and not key.startswith("#"):
                lines.setdefault(key, line_no)
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    real = os.environ if environ is None else environ
    values.update(
        {k: v for k, v in real.items() if k.startswith(("SMTP_", "NEWSLETTER_", "DKIM_"))}
    )

    def where(key: str) -> str:
        return shown if key not in real and key in lines else "environment"

    problems: list[Problem] = []
    port: int | None = None
    if values.get("SMTP_PORT"):
        try:
            port = int(values["SMTP_PORT"])
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            problems.append(
                Problem(
                    where("SMTP_PORT"),
                    lines.get("SMTP_PORT"),
                    f"SMTP_PORT={values['SMTP_PORT']!r} is not a port number — "
                    "use e.g. 587 (starttls), 465 (ssl) or 25",
                )
            )
    security = (values.get("SMTP_SECURITY") or "starttls").strip().lower()
    if security not in SECURITY_MODES:
        problems.append(
            Problem(
                where("SMTP_SECURITY"),
                lines.get("SMTP_SECURITY"),
                f"SMTP_SECURITY={security!r} is not one of starttls, ssl, none — pick one",
            )
        )

    def number(key: str, default: float, kind: type[int] | type[float], low: float) -> float:
        raw = values.get(key)
        if not raw:
            return default
        try:
            value = kind(raw)
            if value < low:
                raise ValueError
            return value
        except ValueError:
            problems.append(
                Problem(
                    where(key),
                    lines.get(key),
                    f"{key}={raw!r} is not a number ≥ {low:g} — fix or remove it",
                )
            )
            return default

    timeout = number("SMTP_TIMEOUT", 30.0, float, 1)
    connections = int(number("SMTP_CONNECTIONS", 2, int, 1))
    rate = number("SMTP_RATE", 0.0, float, 0) or None
    per_connection = int(number("SMTP_MESSAGES_PER_CONNECTION", 100, int, 1))
    insecure = (values.get("SMTP_ALLOW_INSECURE") or "").strip().lower() in {"1", "true", "yes"}
    dkim = [k for k in ("DKIM_SELECTOR", "DKIM_DOMAIN", "DKIM_PRIVATE_KEY_FILE") if values.get(k)]
    if dkim and len(dkim) != 3:
        problems.append(
            Problem(
                where(dkim[0]),
                lines.get(dkim[0]),
                "DKIM needs DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_FILE "
                "together — set all three or none",
            )
        )
    if problems:
        raise ConfigError(problems)
    return Environment(
        smtp_host=values.get("SMTP_HOST") or None,
        smtp_port=port,
        smtp_username=values.get("SMTP_USERNAME") or None,
        smtp_password=values.get("SMTP_PASSWORD") or None,
        smtp_security=security,
        config_path=Path(values.get("NEWSLETTER_CONFIG") or "config/newsletter.yaml"),
        database_url=values.get("NEWSLETTER_DATABASE_URL") or None,
        secret=values.get("NEWSLETTER_SECRET") or None,
        source=shown,
        dkim_selector=values.get("DKIM_SELECTOR") or None,
        dkim_domain=values.get("DKIM_DOMAIN") or None,
        dkim_private_key_file=values.get("DKIM_PRIVATE_KEY_FILE") or None,
        smtp_timeout=timeout,
        smtp_connections=connections,
        smtp_rate=rate,
        smtp_messages_per_connection=per_connection,
        smtp_allow_insecure=insecure,
        smtp_ca_file=values.get("SMTP_CA_FILE") or None,
    )
