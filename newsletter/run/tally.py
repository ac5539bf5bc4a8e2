"""One tally for every kind of run: what was composed, sent, deferred and failed, and why."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from newsletter.records import OutboxStatus, RunStatus
from newsletter.sources.model import FetchOutcome
from newsletter.store.records import RunTally


@dataclass(frozen=True, slots=True)
class Trouble:
    """One message (or digest) that did not go out, and the reason to show."""

    recipient: str
    status: OutboxStatus
    reason: str


@dataclass
class Tally:
    """Counts kept while a run works; safe to update from delivery threads."""

    composed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    troubles: list[Trouble] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, status: OutboxStatus, recipient: str = "", reason: str = "") -> None:
        with self._lock:
            if status is OutboxStatus.SENT:
                self.sent += 1
            elif status is OutboxStatus.DEFERRED:
                self.deferred += 1
            else:
                self.failed += 1
            if status is not OutboxStatus.SENT:
                self.troubles.append(Trouble(recipient, status, reason))

    def add(self, other: Tally) -> None:
        with self._lock:
            self.composed += other.composed
            self.sent += other.sent
            self.deferred += other.deferred
            self.failed += other.failed
            self.troubles.extend(other.troubles)

    @property
    def complete(self) -> bool:
        return self.deferred == 0 and self.failed == 0

    def for_run_row(self, duration: float | None = None) -> RunTally:
        return RunTally(self.composed, self.sent, self.deferred, self.failed, duration)


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """One worker process of ``send --workers N``, as the parent saw it end."""

    index: int
    pid: int | None
    exitcode: int | None
    tally: RunTally
    peak_rss_kib: int = 0
    error: str | None = None
    paused: str | None = None

    @property
    def ok(self) -> bool:
        return self.exitcode == 0 and self.error is None


@dataclass
class RunResult:
    """What one digest run did, whichever command drove it."""

    tally: Tally = field(default_factory=Tally)
    fetched: list[FetchOutcome] = field(default_factory=list)
    status: RunStatus = RunStatus.DONE
    workers: list[WorkerReport] = field(default_factory=list)
    processes: int = 1
    next_retry: datetime | None = None
    """When the earliest deferred message will be tried again."""
    waiting: int = 0
    """Messages of earlier runs still deferred (not counted in this run's tally)."""
    stopped: bool = False
    paused: str | None = None
    """Why delivery paused (the relay refused everything), with the relay's last answer."""
    delivery_peak_rss_kib: int = 0
    """Peak memory of the delivery process, when delivery had one (else 0)."""
    notes: list[str] = field(default_factory=list)
    """Things the operator should know about how the run went (printed, not logged)."""

    @property
    def complete(self) -> bool:
        """Nothing deferred or failed, no worker lost, nothing left waiting in the outbox."""
        return (
            self.tally.complete
            and self.waiting == 0
            and not self.stopped
            and self.paused is None
            and all(w.ok for w in self.workers)
        )
