"""Persistent state: feeds, entries, runs, the outbox and suppressions."""

from newsletter.store.store import ACTIVE_STATUSES, OutboxRow, Store

__all__ = ["ACTIVE_STATUSES", "OutboxRow", "Store"]
