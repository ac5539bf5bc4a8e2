"""What every SQL mixin shares: the engine, and SQLite's need for an early write lock."""

from __future__ import annotations

from sqlalchemy import Connection, Engine


class SqlBase:
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @staticmethod
    def write_lock(conn: Connection) -> None:
        """On SQLite, take the database write lock before reading what will be written (so a
        read-then-write is not interleaved with another writer); PostgreSQL locks rows."""
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
