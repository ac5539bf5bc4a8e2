"""Bring a database to the newest schema with the Alembic migrations shipped in the package.

Why programmatic: a user runs ``python -m newsletter db upgrade`` (or nothing at all —
:meth:`Store.open` calls :func:`ensure_current`), never ``alembic`` with an ini file.

Several processes may open a fresh database at once (``send --workers 4``), so the check
and the upgrade run under a lock: ``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` (the database's write lock) on SQLite. DDL is transactional on both, so a
crash mid-upgrade leaves the previous schema, never half of the new one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
"""The schema that ``metadata.create_all`` built before migrations existed."""
LOCK_KEY = 0x6E6C5F6D6967  # "nl_mig": any constant both sides agree on
"""PostgreSQL advisory lock key held while one process checks and upgrades the schema."""


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply every migration up to ``revision``; returns (revision before, revision after).

    A database made by an older version without migrations (tables, no
    ``alembic_version``) is stamped as the baseline first, then upgraded.
    """
    with engine.connect() as connection:
        _lock(connection)
        before = current_revision(connection)
        if before is None and inspect(connection).has_table("outbox"):
            command.stamp(alembic_config(connection), BASELINE)
            before = BASELINE
        if before != head_revision() or revision != "head":
            command.upgrade(alembic_config(connection), revision)
        after = current_revision(connection)
        connection.commit()
    assert after is not None
    return before, after


def ensure_current(engine: Engine) -> None:
    """Upgrade when needed; the common case (already at head) costs one small query."""
    with engine.connect() as connection:
        if current_revision(connection) == head_revision():
            return
    upgrade(engine)
