"""The store on SQLAlchemy Core: SQLite by default, PostgreSQL to scale out.

One mixin per domain (feeds, entries, runs, outbox, suppressions, stored subscribers, the
relay's pause, and
for the web: papers by day and the digest archive), each implementing its protocol from
:mod:`newsletter.store.protocols`; :class:`SqlStore` is all of them on one engine.
"""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.store.sql.archive import ArchiveSql
from newsletter.store.sql.engine import database_problem, make_engine, open_engine
from newsletter.store.sql.entries import EntriesSql
from newsletter.store.sql.feeds import FeedsSql
from newsletter.store.sql.outbox import OutboxSql
from newsletter.store.sql.papers import PapersSql
from newsletter.store.sql.relay import RelaySql
from newsletter.store.sql.runs import STALE_RUN, RunsSql
from newsletter.store.sql.subscribers import SubscribersSql
from newsletter.store.sql.suppressions import SuppressionsSql
from newsletter.store.sql.vectors import SqlVectors

__all__ = ["STALE_RUN", "SqlStore", "database_problem", "make_engine"]


class SqlStore(
    FeedsSql,
    EntriesSql,
    RunsSql,
    OutboxSql,
    SuppressionsSql,
    SubscribersSql,
    RelaySql,
    PapersSql,
    ArchiveSql,
):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """Open the database, creating or upgrading its schema through the migrations."""
        return cls(open_engine(url))

    @property
    def url(self) -> str:
        """The URL with its password, for handing to a worker process."""
        return self.engine.url.render_as_string(hide_password=False)

    def vector_cache(self) -> SqlVectors:
        return SqlVectors(self.engine)

    def close(self) -> None:
        self.engine.dispose()
