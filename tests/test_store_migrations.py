"""The schema comes from the Alembic migrations, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, make_url, text

from newsletter.cli import main
from newsletter.store import Store
from newsletter.store.migrate import BASELINE, current_revision, head_revision, upgrade
from newsletter.store.schema import metadata
from newsletter.store.sql import make_engine
from tests.conftest import BACKENDS, postgres_admin_url


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: a new SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'fresh.db'}"
        return
    admin = postgres_admin_url()
    assert admin is not None
    name = f"newsletter_fresh_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def test_first_open_applies_the_migrations_and_they_match_the_tables_in_code(
    empty_url: str,
) -> None:
    store = Store.open(empty_url)
    with store.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    store.close()
    assert differences == []
    assert {t.name for t in metadata.sorted_tables} | {"alembic_version"} == tables


def test_a_database_made_before_migrations_is_adopted_with_its_data(empty_url: str) -> None:
    engine = make_engine(empty_url)
    baseline_without_alembic(engine)  # what Store.open made before Alembic
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO suppressions (email, reason, since) VALUES ('a@x.org', 'x', :t)"),
            {"t": "2026-01-01 00:00:00+00:00"},
        )
    engine.dispose()
    store = Store.open(empty_url)
    assert store.is_suppressed("a@x.org")
    with store.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    store.close()
    assert head_revision() >= BASELINE


def baseline_without_alembic(engine: Engine) -> None:
    """The tables of the first schema, and no record of a migration."""
    upgrade(engine, BASELINE)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))


def test_version_markers_of_older_outboxes_become_columns(empty_url: str) -> None:
    """0002: ``key#vN`` rows become the version of ``key`` (or an update row of their own)."""
    engine = make_engine(empty_url)
    upgrade(engine, BASELINE)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, schedule, period, started_at, status)"
                " VALUES (1, 'daily', 'p', :t, 'composed')"
            ),
            {"t": "2026-01-01 00:00:00+00:00"},
        )
        for outbox_id in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO outbox (id, run_id, subscriber, status, message_id, subject,"
                    " data, created_at, attempts, item_count, size)"
                    " VALUES (:id, 1, :who, 'sent', :mid, 's', :data, :t, 1, 1, 1)"
                ),
                {
                    "id": outbox_id,
                    "who": f"s{outbox_id}@x.org",
                    "mid": f"<{outbox_id}@x>",
                    "data": b"x",
                    "t": "2026-01-01 00:00:00+00:00",
                },
            )
        rows = [
            (1, "arxiv:1", "s1@x.org"),
            (1, "arxiv:1#v2", "s1@x.org"),  # a paper and the version it carried
            (2, "arxiv:1#v3", "s2@x.org"),  # an update alone
            (2, "url:https://e.org/#vx", "s2@x.org"),  # not a marker
        ]
        for outbox_id, key, who in rows:
            conn.execute(
                text("INSERT INTO outbox_entries VALUES (:o, :k, :s)"),
                {"o": outbox_id, "k": key, "s": who},
            )
    upgrade(engine)
    with engine.connect() as conn:
        found = set(
            conn.execute(
                text(
                    "SELECT outbox_id, entry_key, version, is_update FROM outbox_entries"
                    " ORDER BY outbox_id, entry_key"
                )
            ).all()
        )
    engine.dispose()
    assert found == {
        (1, "arxiv:1", 2, False),
        (2, "arxiv:1", 3, True),
        (2, "url:https://e.org/#vx", None, False),
    }


def test_many_processes_opening_a_fresh_database_at_once_all_succeed(empty_url: str) -> None:
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store.open(empty_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_db_upgrade_command_reports_what_it_did(
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", empty_url)
    env_file = tmp_path / "none.env"
    assert main(["db", "upgrade", "--env-file", str(env_file)]) == 0
    assert f"upgraded empty -> {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--env-file", str(env_file)]) == 0
    assert f"already at {head_revision()}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "this is not a database URL"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "cannot open"),
    ],
)
def test_a_database_that_cannot_be_opened_is_a_clear_message(
    url: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    assert main(["db", "upgrade", "--env-file", str(tmp_path / "none.env")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
