"""Pausing delivery when the relay refuses everything, and how long to wait before trying again.

A relay that refuses every message (a broken login, a ``554`` policy block, a full quota)
would otherwise cost each message an attempt and, after three days, the message itself.
A run that sees it stops, puts its messages back untouched, and records the pause in the
store, where the daemon waits it out (5 minutes, doubling to 4 hours) and ``status``
shows it. The first message that goes through clears it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from newsletter.store.records import RelayPause

FIRST_WAIT = timedelta(minutes=5)
LONGEST_WAIT = timedelta(hours=4)
UNREACHABLE_IN_A_ROW = 3
"""Sessions that could not be opened, in a row, before a run pauses (the relay is down)."""


def pause_length(pauses: int) -> timedelta:
    """The wait after the ``pauses``-th pause in a row: 5 min, 10, 20 … at most 4 h."""
    if pauses < 1:
        raise ValueError(f"pauses must be at least 1, got {pauses}")
    factor: int = 2 ** min(pauses - 1, 16)
    return min(LONGEST_WAIT, FIRST_WAIT * factor)


def next_pause(previous: RelayPause | None, reason: str, now: datetime) -> RelayPause:
    """The pause to record now, continuing ``previous`` (still on record) when there is one."""
    pauses = previous.pauses + 1 if previous is not None else 1
    since = previous.since if previous is not None else now
    return RelayPause(reason, since, now, now + pause_length(pauses), pauses)
