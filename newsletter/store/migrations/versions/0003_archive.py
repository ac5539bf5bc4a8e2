"""The web archive: every digest readable at ``/d/<token>`` until ``archive_days`` pass.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

One row per archived message, beside the outbox row that holds the message itself (so
sending stores nothing twice): the unguessable token of its link, when it was made, and
for a digest that was cut, the list of every match (zlib-compressed JSON). Expiry keeps
the row with ``expired_at`` set, so an old link answers "expired" and a forged one "not
found".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)
"""Spelled out, not imported from schema.py, so this file keeps its meaning."""


def upgrade() -> None:
    op.create_table(
        "archive",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column(
            "outbox_id",
            sa.Integer,
            sa.ForeignKey("outbox.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("matches", sa.LargeBinary),
        sa.Column("expired_at", UTC_DATETIME),
    )
    op.create_index("ix_archive_created_at", "archive", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_archive_created_at", table_name="archive")
    op.drop_table("archive")
