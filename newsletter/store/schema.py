"""Database tables (SQLAlchemy Core). SQLite by default, PostgreSQL to scale out."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns timezone-aware UTC on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

feeds = Table(
    "feeds",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("next_fetch_after", UTCDateTime()),
    Column("last_success", UTCDateTime()),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime()),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("disabled", Text),
    Column("last_entry_count", Integer),
    Column("last_fetch", UTCDateTime()),
    Column("failing_since", UTCDateTime()),
    Column("config_url", Text),
)

entries = Table(
    "entries",
    metadata,
    Column("key", String(500), primary_key=True),
    Column("title", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("feeds", JSON, nullable=False),
    Column("pdf_link", Text),
    Column("popularity", Integer),
    Column("arxiv_id", String(64)),
    Column("version", Integer),
    Column("announce_type", String(32)),
    Column("published", UTCDateTime(), nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("embedding", LargeBinary),
    Column("revision", Integer, nullable=False, server_default="0"),
    Index("ix_entries_published", "published"),
    Index("ix_entries_first_seen", "first_seen"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule", String(200), nullable=False),
    Column("period", String(64), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("status", String(32), nullable=False, default="composing"),
    Column("summary", JSON),
    UniqueConstraint("schedule", "period", name="uq_runs_schedule_period"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("subscriber", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message_id", String(500), nullable=False),
    Column("subject", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("lease_expires", UTCDateTime()),
    Column("lease_owner", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", UTCDateTime()),
    Column("last_reply", Text),
    Column("sent_at", UTCDateTime()),
    Column("item_count", Integer, nullable=False, default=0),
    Column("size", Integer, nullable=False, default=0),
    Column("failure", String(16)),
    Column("token", String(16)),
    Column("report", String(16)),
    Column("reported_at", UTCDateTime()),
    UniqueConstraint("run_id", "subscriber", name="uq_outbox_run_subscriber"),
    Index("ix_outbox_status_next", "status", "next_attempt"),
    Index("ix_outbox_subscriber", "subscriber"),
    Index("ix_outbox_token", "token"),
    Index("ix_outbox_message_id", "message_id"),
)

outbox_entries = Table(
    "outbox_entries",
    metadata,
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("entry_key", String(500), primary_key=True),
    Column("subscriber", String(320), nullable=False),
    Column("version", Integer),
    Column("is_update", Boolean, nullable=False, server_default=false()),
    Index("ix_outbox_entries_subscriber", "subscriber", "entry_key"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("since", UTCDateTime(), nullable=False),
)

relay_state = Table(
    "relay_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("since", UTCDateTime(), nullable=False),
    Column("paused_at", UTCDateTime(), nullable=False),
    Column("until", UTCDateTime(), nullable=False),
    Column("pauses", Integer, nullable=False),
)


def _subscriber_columns() -> list[Column[object]]:
    """Who and what: the columns a confirmed subscriber and a sign-up share."""
    return [
        Column("email", String(320), primary_key=True),
        Column("origin", String(16), nullable=False),
        Column("name", Text),
        Column("topics", JSON, nullable=False),
        Column("own_topic", Text),
        Column("schedule", String(200), nullable=False),
        Column("timezone", String(64), nullable=False),
    ]


web_subscribers = Table(
    "web_subscribers",
    metadata,
    *_subscriber_columns(),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime()),
    Column("confirmed_from", String(64)),
)
"""Subscribers added on the web or by ``subscribers import`` (YAML ones stay in YAML)."""

signups = Table(
    "signups",
    metadata,
    *_subscriber_columns(),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("requested_from", String(64)),
    Column("mailed_at", UTCDateTime()),
)
"""Requests waiting for their confirmation: what the address will get once it confirms."""

pauses = Table(
    "pauses",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("since", UTCDateTime(), nullable=False),
    Column("until", UTCDateTime(), nullable=False),
)
"""Subscribers who paused their digests (any origin) until a date."""

topic_vectors = Table(
    "topic_vectors",
    metadata,
    Column("text_hash", String(64), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
)

archive = Table(
    "archive",
    metadata,
    Column("token", String(64), primary_key=True),
    Column(
        "outbox_id",
        Integer,
        ForeignKey("outbox.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("matches", LargeBinary),
    Column("expired_at", UTCDateTime()),
    Index("ix_archive_created_at", "created_at"),
)
"""Digests readable on the web: the token in their link, beside the outbox row that holds
the message. ``matches`` (zlib JSON) lists every match of a digest that was cut."""
