"""The initial schema: feeds, entries, runs, outbox, outbox_entries, suppressions, topic_vectors.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Types are spelled out here (not imported from schema.py) so this file keeps meaning the
same thing when schema.py changes later; a later change is a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("next_fetch_after", UTC_DATETIME),
        sa.Column("last_success", UTC_DATETIME),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", UTC_DATETIME),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("disabled", sa.Text),
        sa.Column("last_entry_count", sa.Integer),
        sa.Column("last_fetch", UTC_DATETIME),
        sa.Column("failing_since", UTC_DATETIME),
        sa.Column("config_url", sa.Text),
    )
    op.create_table(
        "entries",
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False),
        sa.Column("authors", sa.JSON, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("feeds", sa.JSON, nullable=False),
        sa.Column("pdf_link", sa.Text),
        sa.Column("popularity", sa.Integer),
        sa.Column("arxiv_id", sa.String(64)),
        sa.Column("version", sa.Integer),
        sa.Column("announce_type", sa.String(32)),
        sa.Column("published", UTC_DATETIME, nullable=False),
        sa.Column("first_seen", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("embedding", sa.LargeBinary),
    )
    op.create_index("ix_entries_published", "entries", ["published"])
    op.create_index("ix_entries_first_seen", "entries", ["first_seen"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("summary", sa.JSON),
        sa.UniqueConstraint("schedule", "period", name="uq_runs_schedule_period"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("subscriber", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(500), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("lease_expires", UTC_DATETIME),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", UTC_DATETIME),
        sa.Column("last_reply", sa.Text),
        sa.Column("sent_at", UTC_DATETIME),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.UniqueConstraint("run_id", "subscriber", name="uq_outbox_run_subscriber"),
    )
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt"])
    op.create_index("ix_outbox_subscriber", "outbox", ["subscriber"])
    op.create_table(
        "outbox_entries",
        sa.Column(
            "outbox_id",
            sa.Integer,
            sa.ForeignKey("outbox.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("entry_key", sa.String(500), primary_key=True),
        sa.Column("subscriber", sa.String(320), nullable=False),
    )
    op.create_index("ix_outbox_entries_subscriber", "outbox_entries", ["subscriber", "entry_key"])
    op.create_table(
        "suppressions",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
    )
    op.create_table(
        "topic_vectors",
        sa.Column("text_hash", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "topic_vectors",
        "suppressions",
        "outbox_entries",
        "outbox",
        "runs",
        "entries",
        "feeds",
    ):
        op.drop_table(table)
