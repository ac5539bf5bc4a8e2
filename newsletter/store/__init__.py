"""Persistent state behind narrow per-domain protocols (see :mod:`.protocols`).

``Store`` is the SQL implementation (SQLite by default, PostgreSQL to scale out).
"""

from newsletter.store.records import (
    ArchiveCopy,
    ArchivedDigest,
    ArchivedMatch,
    Choice,
    DeliveryRates,
    DeliverySummary,
    DigestOutcome,
    EntryWrite,
    OutboxRow,
    PaperRef,
    PaperStamp,
    Pause,
    RelayPause,
    RunRecord,
    RunTally,
    SignUp,
    SignUpAnswer,
    StoredEntry,
    StoredFeed,
    StoredSubscriber,
    Suppression,
    Taken,
)
from newsletter.store.sql import STALE_RUN, SqlStore

Store = SqlStore

__all__ = [
    "STALE_RUN",
    "ArchiveCopy",
    "ArchivedDigest",
    "ArchivedMatch",
    "Choice",
    "DeliveryRates",
    "DeliverySummary",
    "DigestOutcome",
    "EntryWrite",
    "OutboxRow",
    "PaperRef",
    "PaperStamp",
    "Pause",
    "RelayPause",
    "RunRecord",
    "RunTally",
    "SignUp",
    "SignUpAnswer",
    "SqlStore",
    "Store",
    "StoredEntry",
    "StoredFeed",
    "StoredSubscriber",
    "Suppression",
    "Taken",
]
