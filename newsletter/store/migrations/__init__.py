"""Alembic migrations for the store; applied by :func:`newsletter.store.migrate.upgrade`."""
