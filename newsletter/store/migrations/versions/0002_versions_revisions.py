"""Entry versions as columns, entry revisions for optimistic merges, our own failures marked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

- ``outbox_entries.version`` / ``is_update`` replace the ``<key>#v<N>`` marker rows that
  recorded which version of a paper a digest carried; existing markers are converted.
- ``entries.revision`` counts writes, so a merge computed from a stale read is detected
  and retried instead of overwriting another process's merge.
- ``outbox.failure`` says why a row failed when it was not the relay's answer
  (``internal``: the digest could not be made), so bounce handling never counts it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_MARKER = "#v"


def upgrade() -> None:
    op.add_column("entries", sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
    op.add_column("outbox_entries", sa.Column("version", sa.Integer))
    op.add_column(
        "outbox_entries",
        sa.Column("is_update", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("outbox", sa.Column("failure", sa.String(16)))
    _convert_markers()


def _convert_markers() -> None:
    """``(outbox, key#vN)`` becomes a version on ``(outbox, key)``; a marker alone (an
    update, whose paper an earlier digest carried) becomes that row with ``is_update``."""
    table = sa.table(
        "outbox_entries",
        sa.column("outbox_id", sa.Integer),
        sa.column("entry_key", sa.String),
        sa.column("version", sa.Integer),
        sa.column("is_update", sa.Boolean),
    )
    bind = op.get_bind()
    markers = bind.execute(
        sa.select(table.c.outbox_id, table.c.entry_key).where(
            table.c.entry_key.like(f"%{_MARKER}%")
        )
    ).all()
    for outbox_id, marked in markers:
        key, _, number = marked.rpartition(_MARKER)
        if not key or not number.isdigit():
            continue  # not a marker: a key that happens to contain "#v"
        base = bind.execute(
            sa.select(table.c.entry_key).where(
                table.c.outbox_id == outbox_id, table.c.entry_key == key
            )
        ).first()
        if base is not None:
            bind.execute(
                sa.update(table)
                .where(table.c.outbox_id == outbox_id, table.c.entry_key == key)
                .values(version=int(number))
            )
            bind.execute(
                sa.delete(table).where(table.c.outbox_id == outbox_id, table.c.entry_key == marked)
            )
        else:
            bind.execute(
                sa.update(table)
                .where(table.c.outbox_id == outbox_id, table.c.entry_key == marked)
                .values(entry_key=key, version=int(number), is_update=True)
            )


def downgrade() -> None:
    op.drop_column("outbox", "failure")
    op.drop_column("outbox_entries", "is_update")
    op.drop_column("outbox_entries", "version")
    op.drop_column("entries", "revision")
