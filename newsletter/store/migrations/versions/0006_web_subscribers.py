"""Subscribers from the web: confirmed subscribers, pending sign-ups, pauses.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

- ``web_subscribers``: addresses that signed up and confirmed on the web (origin ``web``)
  or were brought in by ``subscribers import`` (origin ``import``); topics are library ids.
  ``confirmed_at``/``confirmed_from`` are the evidence of consent.
- ``signups``: requests waiting for their confirmation, kept apart so that nothing a
  stranger submits changes what an address receives before it confirms.
- ``pauses``: digests stopped until a date, for a subscriber of any origin.

Types are spelled out here (not imported from schema.py), as in 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def _choice() -> list[sa.Column[object]]:
    return [
        sa.Column("name", sa.Text),
        sa.Column("topics", sa.JSON, nullable=False),
        sa.Column("own_topic", sa.Text),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "web_subscribers",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("origin", sa.String(16), nullable=False),
        *_choice(),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("confirmed_at", UTC_DATETIME),
        sa.Column("confirmed_from", sa.String(64)),
    )
    op.create_table(
        "signups",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("origin", sa.String(16), nullable=False),
        *_choice(),
        sa.Column("requested_at", UTC_DATETIME, nullable=False),
        sa.Column("requested_from", sa.String(64)),
        sa.Column("mailed_at", UTC_DATETIME),
    )
    op.create_table(
        "pauses",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("until", UTC_DATETIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pauses")
    op.drop_table("signups")
    op.drop_table("web_subscribers")
