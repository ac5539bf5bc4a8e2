"""Shared fixtures: a project folder with config, a real SMTP server and a real HTTP server."""

from __future__ import annotations

import http.server
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsletter.demo import sample_feed
from tests.smtp_sink import Sink, free_port, smtp_server

__all__ = ["Sink", "free_port"]

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)

MAIN_YAML = """\
title: Test Digest
sender: Test Digest <digest@example.org>
base_url: https://digest.example.org/news
database: sqlite:///state/test.db
feeds:
  - name: sample
    url: sample-feed.atom
schedules:
  daily: "0 7 * * *"
digest:
  max_items: 25
  lookback_days: 7
"""

SUBSCRIBERS_YAML = """\
topics:
  ssl:
    title: Self-supervised learning
    query: self-supervised OR "contrastive learning"
  speech:
    title: Speech synthesis
    query: speech AND (synthesis OR TTS OR generation)
subscribers:
  - email: alice@example.org
    name: Alice Example
    schedule: daily
    topics: [ssl]
  - email: bob@example.org
    schedule: daily
    topics: [speech]
  - email: nobody@example.org
    schedule: daily
    topics:
      - title: Nothing at all
        query: zyzzyva
"""


@dataclass
class Project:
    root: Path
    database: str = "sqlite:///state/test.db"

    @property
    def config(self) -> Path:
        return self.root / "config" / "newsletter.yaml"

    @property
    def subscribers(self) -> Path:
        return self.root / "config" / "subscribers.yaml"

    def write(self, main: str = MAIN_YAML, subscribers: str = SUBSCRIBERS_YAML) -> None:
        main = main.replace("database: sqlite:///state/test.db", f"database: {self.database}")
        self.config.write_text(main, encoding="utf-8")
        self.subscribers.write_text(subscribers, encoding="utf-8")

    def send_command(self) -> list[str]:
        """``python -m newsletter send`` on this project, for a test that runs it as a
        separate process (to signal or kill it); see :func:`subprocess_env`."""
        return [sys.executable, "-m", "newsletter", "send", "--config", str(self.config)]

    def feed_for_real_clock(self) -> None:
        """Papers dated before the real time: a ``send`` in a subprocess runs on the
        system clock, and papers dated before :data:`NOW` fall out of its lookback."""
        feed = sample_feed(datetime.now(UTC))
        (self.root / "config" / "sample-feed.atom").write_text(feed, encoding="utf-8")

    def env_file(self, **values: str) -> Path:
        path = self.root / ".env"
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
        return path


def subprocess_env() -> dict[str, str]:
    """This environment without its SMTP_ and NEWSLETTER_ settings: a `newsletter`
    subprocess then takes them from the project's own .env only."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "NEWSLETTER_"))}


# -- database backends: SQLite always, PostgreSQL when a server answers --------------------

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str | None:
    """$NEWSLETTER_TEST_POSTGRES_URL, else the local server on 127.0.0.1:5432 if it answers."""
    url = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
    except OSError:
        return None
    return DEFAULT_POSTGRES


BACKENDS = ["sqlite"] + (["postgresql"] if postgres_admin_url() else [])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of our own for this test session, schema applied once; dropped at the end."""
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("no PostgreSQL server (set NEWSLETTER_TEST_POSTGRES_URL)")
    from sqlalchemy import create_engine, make_url, text

    from newsletter.store import Store

    name = f"newsletter_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    Store.open(url).close()
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def empty_tables(url: str) -> None:
    """Fresh state between tests: emptying the tables is far quicker than a new database."""
    from sqlalchemy import create_engine, text

    from newsletter.store.schema import metadata

    engine = create_engine(url)
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL every store-touching test runs against, once per backend.

    SQLite: the file the config names (relative to the config folder, fresh per test).
    PostgreSQL: the session's database, emptied.
    """
    if request.param == "sqlite":
        return "sqlite:///state/test.db"
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite-specific test")
    url: str = request.getfixturevalue("postgres_url")
    empty_tables(url)
    return url


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Project:
    """A project folder with config, the sample feed dated before NOW, and a clean environment."""
    for key in list(__import__("os").environ):
        if key.startswith(("SMTP_", "NEWSLETTER_", "DKIM_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    proj = Project(tmp_path, database=database_url)
    proj.write()
    (tmp_path / "config" / "sample-feed.atom").write_text(sample_feed(NOW), encoding="utf-8")
    return proj


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    """A real aiosmtpd server on 127.0.0.1 that keeps every message."""
    sink = Sink()
    with smtp_server(sink):
        yield sink


@dataclass
class HttpFiles:
    base: str
    files: dict[str, tuple[bytes, str]]
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def http_files() -> Iterator[HttpFiles]:
    """A real HTTP server on 127.0.0.1 serving in-memory files; records request paths."""
    served = HttpFiles("", {})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            found = served.files.get(self.path)
            if found is None:
                self.send_error(404)
                return
            body, ctype = found
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
