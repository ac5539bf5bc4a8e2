"""Fewer cyclic garbage collections while a run composes.

Composing allocates millions of short-lived objects (template contexts, strings, items)
and keeps a few hundred thousand long-lived ones in its per-run caches. At Python's
default thresholds the collector runs every 700 allocations and, every so often, walks
every live object: on the 2,000-digest benchmark that was 12–20 % of the composer's CPU
time, to free about 12,000 objects in all — nearly everything a run makes is freed by
reference counting. A higher first threshold keeps collections rare; cyclic garbage is
still collected, only in larger steps, and the old thresholds come back when the run ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (50_000, 20, 100)
"""Allocations between young collections, then young collections per middle one, middle
ones per full one (Python's defaults: 700, 10, 10)."""


_lock = threading.Lock()
_inside = 0
_before: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """While inside, the collector runs at :data:`THRESHOLDS` (never more often than it
    was set to run before). Runs that overlap in threads (the daemon's) share one setting;
    the last one out restores the thresholds."""
    global _inside, _before
    with _lock:
        if _inside == 0:
            _before = gc.get_threshold()
            if _before[0] != 0:  # 0: collection turned off, which stays so
                raised = (max(new, old) for new, old in zip(THRESHOLDS, _before, strict=False))
                gc.set_threshold(*raised)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                gc.set_threshold(*_before)
