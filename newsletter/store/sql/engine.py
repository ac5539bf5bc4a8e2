"""Opening the database: engines with sane SQLite settings, and errors a person can act on."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from newsletter.errors import DatabaseUnavailable
from newsletter.store.migrate import ensure_current


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and not url.startswith("sqlite:///:memory:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def open_engine(url: str) -> Engine:
    """An engine on a database at the newest schema (migrations applied when needed)."""
    try:
        engine = make_engine(url)
        ensure_current(engine)
    except (ImportError, ArgumentError, OperationalError) as exc:
        raise database_problem(url, exc) from exc
    return engine


def database_problem(url: str, exc: Exception) -> DatabaseUnavailable:
    """A database that cannot be opened is a setup problem: say which and how to fix it."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = repr(url)
    if isinstance(exc, ImportError):
        reason = f"its driver is not installed ({exc.name or exc})"
        hint = "PostgreSQL needs the postgres extra: pip install 'newsletter[postgres]'"
    elif isinstance(exc, ArgumentError):
        reason = "this is not a database URL"
        hint = "e.g. sqlite:///state/newsletter.db or postgresql+psycopg://user@host/dbname"
    else:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        hint = "is the server running, and do the host, port, user and database name exist?"
    return DatabaseUnavailable(f"cannot open {shown}: {reason}", hint)


def subscriber_lock_key(email: str) -> int:
    """A stable signed 64-bit key per address for PostgreSQL advisory locks."""
    digest = hashlib.blake2b(email.lower().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def utc_aggregate(value: Any) -> Any:
    """Aggregates (``max`` of a timestamp) bypass the column type on SQLite: parse and tag."""
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
