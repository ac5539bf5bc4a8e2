"""Who a run is for: every active subscriber, one schedule's group, one address, a partition."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from newsletter.records import Subscriber


def partition_of(email: str, count: int) -> int:
    """Which of ``count`` workers composes this address; the same in every process."""
    return zlib.crc32(email.lower().encode()) % count


@dataclass(frozen=True)
class Audience:
    """A filter over the configured subscribers; the default is everyone."""

    only: str | None = None
    """One address (``--subscriber``)."""
    group: tuple[Subscriber, ...] | None = None
    """One schedule's subscribers in one time zone (the daemon)."""
    partition: tuple[int, int] | None = None
    """(index, count): this worker's share of ``send --workers``."""

    def select(
        self, subscribers: Sequence[Subscriber], suppressed: Collection[str]
    ) -> list[Subscriber]:
        """The subscribers this run is for, minus suppressed addresses (they win over YAML)."""
        chosen = [s for s in subscribers if s.email.lower() not in suppressed]
        if self.only:
            chosen = [s for s in chosen if s.email.lower() == self.only.lower()]
        if self.group is not None:
            wanted = {s.email.lower() for s in self.group}
            chosen = [s for s in chosen if s.email.lower() in wanted]
        if self.partition is not None:
            index, count = self.partition
            chosen = [s for s in chosen if partition_of(s.email, count) == index]
        return chosen
