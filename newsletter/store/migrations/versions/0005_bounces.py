"""Bounces, complaints and relay pauses.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01

- ``outbox.token``: the message's return token (VERP), so a bounce, a complaint or a
  mailed unsubscribe maps back to its row; ``outbox.message_id`` is indexed for reports
  that quote only the original Message-ID.
- ``outbox.report`` / ``reported_at``: what a report that arrived later by mail said of a
  message (``bounce-hard``, ``bounce-soft``, ``complaint``, ``unsubscribe``).
- ``relay_state``: a relay that refused everything pauses delivery; the pause is kept
  here so ``status`` and every other process see it and wait it out.

Types are spelled out here (not imported from schema.py), as in 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"  # chained after the web archive (0003) in this branch
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("outbox", sa.Column("token", sa.String(16)))
    op.add_column("outbox", sa.Column("report", sa.String(16)))
    op.add_column("outbox", sa.Column("reported_at", UTC_DATETIME))
    op.create_index("ix_outbox_token", "outbox", ["token"])
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"])
    op.create_table(
        "relay_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("paused_at", UTC_DATETIME, nullable=False),
        sa.Column("until", UTC_DATETIME, nullable=False),
        sa.Column("pauses", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("relay_state")
    op.drop_index("ix_outbox_message_id", table_name="outbox")
    op.drop_index("ix_outbox_token", table_name="outbox")
    op.drop_column("outbox", "reported_at")
    op.drop_column("outbox", "report")
    op.drop_column("outbox", "token")
