"""Alembic environment: always run programmatically on a connection we hand over.

There is no alembic.ini: :mod:`newsletter.store.migrate` builds the config and passes an
open connection (already holding the migration lock) in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context

from newsletter.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations with `python -m newsletter db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
