"""A thread-safe pacer that spaces SMTP transactions to at most N per second.

Relays and providers (e.g. 14 msg/s on a sandboxed SES account) refuse or
throttle bursts; pacing on our side keeps a run from earning 4xx replies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Hands out evenly spaced time slots to any number of threads.

    ``clock`` and ``sleep`` are injectable so tests check the schedule without waiting.
    """

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError(f"rate must be positive, got {per_second}")
        self._interval = 0.0 if per_second is None else 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until this caller's slot; return how long it waited (seconds)."""
        if self._interval == 0.0:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay
