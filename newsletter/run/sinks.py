"""Where composed messages go: the outbox (a real run) or files (a dry run, a preview).

A run hands every message to its sink in batches and never needs to know which one it
has; that is the whole difference between ``send`` and ``send --dry-run``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from newsletter.compose import Composition
from newsletter.records import Message, RunStatus
from newsletter.run.archive import archive_copy
from newsletter.store.protocols import OutboxStore, RunStore
from newsletter.store.records import RunTally


@dataclass(frozen=True, slots=True)
class Made:
    """One subscriber's message, with the composition it came from (for reports)."""

    message: Message
    composition: Composition


class Sink(Protocol):
    records: bool
    """Whether the sink changes state (the outbox does; files record nothing)."""

    def open(self, schedule: str, period: str, now: datetime) -> bool:
        """Start the run; False when another process already has it (compose nothing)."""

    def done(self) -> set[str]:
        """Addresses that already have a digest in this run (a takeover skips them)."""

    def write(self, batch: Sequence[Made], now: datetime) -> int:
        """Keep a batch; returns how many were kept."""

    def failed(self, subscriber: str, reason: str, now: datetime) -> None:
        """A digest that could not be made: a failure of ours, never of the address."""

    def nothing(self, composition: Composition) -> None:
        """A subscriber with nothing new (no mail); kept only where it is explained."""

    def settle(self, now: datetime, status: RunStatus, tally: RunTally) -> None:
        """Record where the run stands (composed, then how its delivery ended)."""

    def abandon(self, now: datetime) -> None:
        """Undo what this run kept (it stopped on an error that affects everyone)."""


class OutboxSink:
    """Pending rows in the outbox, one transaction per batch, under a claimed run."""

    records = True

    def __init__(self, store: OutboxStore, runs: RunStore) -> None:
        self.store = store
        self.runs = runs
        self.run_id: int | None = None

    def open(self, schedule: str, period: str, now: datetime) -> bool:
        self.run_id = self.runs.claim_run(schedule, period, now)
        return self.run_id is not None

    def done(self) -> set[str]:
        assert self.run_id is not None
        return self.runs.run_subscribers(self.run_id)

    def write(self, batch: Sequence[Made], now: datetime) -> int:
        assert self.run_id is not None
        messages = [made.message for made in batch]
        archive = [
            archive_copy(made.composition.digest, made.message)
            for made in batch
            if made.message.view_token is not None and made.composition.digest is not None
        ]
        return self.store.enqueue(self.run_id, messages, now, archive=archive)

    def failed(self, subscriber: str, reason: str, now: datetime) -> None:
        assert self.run_id is not None
        self.store.record_failure(self.run_id, subscriber, reason, now)

    def nothing(self, composition: Composition) -> None:
        pass

    def settle(self, now: datetime, status: RunStatus, tally: RunTally) -> None:
        assert self.run_id is not None
        self.runs.finish_run(self.run_id, now, status, tally)

    def abandon(self, now: datetime) -> None:
        """Drop the run's unsent rows, and mark it failed (a later run may take its period)."""
        assert self.run_id is not None
        self.store.discard_pending(self.run_id)
        self.runs.finish_run(self.run_id, now, RunStatus.ERROR, RunTally())


@dataclass(frozen=True, slots=True)
class FileRow:
    """One message written by a dry run or a preview (or the reason none could be made)."""

    subscriber: str
    topics: int
    items: int
    size: int
    """The HTML part as sent (quoted-printable), what the 100 KB budget and Gmail count."""
    path: Path | None = None
    composition: Composition | None = None
    error: str | None = None


SKIPPED_KEPT = 100
"""Subscribers without a digest whose reasons a dry run keeps (to explain, not to count)."""
_PREVIEW_FILE = re.compile(r"^\d+-.+\.(eml|html|txt)$")


def safe_filename(address: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", address)


class FileSink:
    """Messages as files: ``<n>-<address>.eml`` (the exact bytes) with ``.html`` and ``.txt``
    beside it (a dry run), or ``<address>.html`` and ``.txt`` alone (a preview)."""

    records = False

    def __init__(self, out_dir: Path, *, numbered: bool = True) -> None:
        self.out_dir = out_dir
        self.numbered = numbered
        self.rows: list[FileRow] = []
        self.written = 0
        self.skipped: list[Composition] = []

    def open(self, schedule: str, period: str, now: datetime) -> bool:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.numbered:  # stale previews from a previous run would mislead
            for old in self.out_dir.iterdir():
                if old.is_file() and _PREVIEW_FILE.match(old.name):
                    old.unlink()
        return True

    def done(self) -> set[str]:
        return set()

    def write(self, batch: Sequence[Made], now: datetime) -> int:
        for made in batch:
            message, digest = made.message, made.composition.digest
            assert digest is not None
            self.written += 1
            stem = safe_filename(message.recipient)
            if self.numbered:
                stem = f"{self.written}-{stem}"
                path = self.out_dir / f"{stem}.eml"
                path.write_bytes(message.data)
            else:
                path = self.out_dir / f"{stem}.html"
            (self.out_dir / f"{stem}.html").write_text(message.html, encoding="utf-8")
            (self.out_dir / f"{stem}.txt").write_text(message.text, encoding="utf-8")
            self.rows.append(
                FileRow(
                    subscriber=message.recipient,
                    topics=len(digest.sections),
                    items=len(digest.items),
                    size=message.html_size,
                    path=path,
                    composition=made.composition,
                )
            )
        return len(batch)

    def failed(self, subscriber: str, reason: str, now: datetime) -> None:
        self.rows.append(FileRow(subscriber, 0, 0, 0, error=reason))

    def nothing(self, composition: Composition) -> None:
        if len(self.skipped) < SKIPPED_KEPT:
            self.skipped.append(composition)

    def settle(self, now: datetime, status: RunStatus, tally: RunTally) -> None:
        pass

    def abandon(self, now: datetime) -> None:
        pass  # files written so far stay: a dry run records nothing
