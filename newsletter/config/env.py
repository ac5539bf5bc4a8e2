"""Settings that come from the environment (and ``.env``): secrets and deployment details.

Real environment variables win over ``.env``; nothing else in the program reads ``os.environ``.
Values are parsed here and validated where they are defined (:class:`SmtpSettings` checks
its own fields); what only a real send needs (a relay, a secret) is checked by the
``require_*`` methods, so a dry run works with a partial ``.env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from newsletter.config.errors import ConfigError, Problem, display_path
from newsletter.deliver.settings import DEFAULT_PORTS, SECURITY_MODES, SmtpError, SmtpSettings

SECRET_MIN = 16
"""Shorter secrets are refused (kept at 16 so existing deployments keep working)."""
SECRET_GOOD = 32
"""``check`` warns below this length."""
PLACEHOLDER_SECRETS = frozenset({"change-me-to-a-long-random-string", "change-me"})
"""Values printed in ``.env.example`` and the docs: anyone who read them could forge links."""
MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
PREFIXES = ("SMTP_", "NEWSLETTER_", "DKIM_", "BOUNCE_")


@dataclass(frozen=True)
class Environment:
    smtp: SmtpSettings | None = None
    """The relay, or None when ``smtp_problems`` says why it cannot be used."""
    smtp_problems: tuple[Problem, ...] = ()
    config_path: Path = Path("config/newsletter.yaml")
    database_url: str | None = None
    secret: str | None = field(default=None, repr=False)
    source: str = ".env"
    """Where the values came from, for messages."""
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key_file: str | None = None
    bounce_imap_url: str | None = field(default=None, repr=False)

    @property
    def dkim_enabled(self) -> bool:
        return bool(self.dkim_selector and self.dkim_domain and self.dkim_private_key_file)

    def require_smtp(self) -> SmtpSettings:
        """A real send needs a relay: name the missing or wrong variable rather than fail later."""
        if self.smtp is None:
            raise ConfigError(list(self.smtp_problems))
        return self.smtp

    def require_secret(self) -> str:
        problem = secret_problem(self.secret)
        if problem is not None:
            raise ConfigError([Problem(self.source, None, problem)])
        assert self.secret is not None
        return self.secret


def secret_problem(secret: str | None) -> str | None:
    """Why ``NEWSLETTER_SECRET`` cannot sign links, or None when it can."""
    if not secret or len(secret) < SECRET_MIN:
        return (
            f"NEWSLETTER_SECRET is missing or shorter than {SECRET_MIN} characters — set it "
            f"to a long random string, e.g. the output of `{MAKE_SECRET}`"
        )
    if secret in PLACEHOLDER_SECRETS:
        return (
            "NEWSLETTER_SECRET is the placeholder from .env.example, which anyone can read — "
            f"replace it with the output of `{MAKE_SECRET}`"
        )
    return None


class _Values:
    """The merged variables, and where each came from (for ``file:line`` messages)."""

    def __init__(self, env_file: Path | None, environ: Mapping[str, str] | None) -> None:
        self.values: dict[str, str] = {}
        self.shown = display_path(env_file) if env_file else "environment"
        self.lines: dict[str, int] = {}
        if env_file is not None and env_file.is_file():
            try:
                text = env_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    [Problem(self.shown, None, f"cannot be read ({exc}) — save it as UTF-8")]
                ) from exc
            for line_no, line in enumerate(text.splitlines(), 1):
                key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
                if key and not key.startswith("#"):
                    self.lines.setdefault(key, line_no)
            loaded = dotenv_values(env_file)
            self.values.update({k: v for k, v in loaded.items() if v is not None})
        self.real = os.environ if environ is None else environ
        self.values.update({k: v for k, v in self.real.items() if k.startswith(PREFIXES)})
        self.problems: list[Problem] = []

    def get(self, key: str) -> str | None:
        return self.values.get(key) or None

    def problem(self, key: str, message: str) -> Problem:
        if key not in self.real and key in self.lines:
            return Problem(self.shown, self.lines[key], message)
        return Problem("environment", None, message)

    def complain(self, key: str, message: str) -> None:
        self.problems.append(self.problem(key, message))

    def number(self, key: str, default: float, kind: type[int] | type[float], low: float) -> float:
        raw = self.get(key)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= 1e9:
            self.complain(key, f"{key}={raw!r} is not a number ≥ {low:g} — fix or remove it")
            return default
        return value

    def port(self) -> int | None:
        raw = self.get("SMTP_PORT")
        if raw is None:
            return None
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            self.complain(
                "SMTP_PORT",
                f"SMTP_PORT={raw!r} is not a port number — "
                "use e.g. 587 (starttls), 465 (ssl) or 25",
            )
            return None
        return int(raw)


def read_environment(
    env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None
) -> Environment:
    """Merge ``.env`` (if present) under the real environment and validate the values."""
    v = _Values(env_file, environ)
    port = v.port()
    security = (v.get("SMTP_SECURITY") or "starttls").strip().lower()
    if security not in SECURITY_MODES:
        v.complain(
            "SMTP_SECURITY",
            f"SMTP_SECURITY={security!r} is not one of {', '.join(SECURITY_MODES)} — pick one",
        )
    timeout = v.number("SMTP_TIMEOUT", 30.0, float, 1)
    connections = int(v.number("SMTP_CONNECTIONS", 2, int, 1))
    rate = v.number("SMTP_RATE", 0.0, float, 0) or None
    per_connection = int(v.number("SMTP_MESSAGES_PER_CONNECTION", 100, int, 1))
    dkim = [k for k in ("DKIM_SELECTOR", "DKIM_DOMAIN", "DKIM_PRIVATE_KEY_FILE") if v.get(k)]
    if dkim and len(dkim) != 3:
        v.complain(
            dkim[0],
            "DKIM needs DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_FILE "
            "together — set all three or none",
        )
    if v.problems:
        raise ConfigError(v.problems)
    smtp: SmtpSettings | None = None
    smtp_problems: tuple[Problem, ...] = ()
    host, username, password = v.get("SMTP_HOST"), v.get("SMTP_USERNAME"), v.get("SMTP_PASSWORD")
    if host is None:
        smtp_problems = (
            v.problem(
                "SMTP_HOST",
                "SMTP_HOST is not set — add SMTP_HOST=smtp.example.org "
                "to .env (or export it), or use send --dry-run",
            ),
        )
    elif username and not password:
        smtp_problems = (
            v.problem(
                "SMTP_USERNAME",
                "SMTP_USERNAME is set but SMTP_PASSWORD is not — add "
                "SMTP_PASSWORD=… to .env or remove SMTP_USERNAME",
            ),
        )
    else:
        try:
            smtp = SmtpSettings(
                host=host,
                port=port or DEFAULT_PORTS.get(security, 25),
                security=security,
                username=username,
                password=password if username else None,
                timeout=timeout,
                connections=connections,
                rate_per_second=rate,
                messages_per_connection=per_connection,
                allow_insecure=(v.get("SMTP_ALLOW_INSECURE") or "").strip().lower()
                in {"1", "true", "yes"},
                ca_file=v.get("SMTP_CA_FILE"),
            )
        except SmtpError as exc:
            smtp_problems = (v.problem("SMTP_HOST", f"{exc} — fix the SMTP_* settings"),)
    return Environment(
        smtp=smtp,
        smtp_problems=smtp_problems,
        config_path=Path(v.get("NEWSLETTER_CONFIG") or "config/newsletter.yaml"),
        database_url=v.get("NEWSLETTER_DATABASE_URL"),
        secret=v.get("NEWSLETTER_SECRET"),
        source=v.shown,
        dkim_selector=v.get("DKIM_SELECTOR"),
        dkim_domain=v.get("DKIM_DOMAIN"),
        dkim_private_key_file=v.get("DKIM_PRIVATE_KEY_FILE"),
        bounce_imap_url=v.get("BOUNCE_IMAP_URL"),
    )
