"""When to try a deferred message again: exponential backoff with jitter.

Jitter matters because a relay that comes back after an outage should not be hit
by every deferred message at the same second.
"""

from __future__ import annotations

import random
from datetime import timedelta

FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=4)
_SPREAD = 0.2
"""Each delay is drawn from ±20 % around its nominal value, then kept within bounds."""


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Delay before the next try after ``attempts`` failed tries (1 min, 2, 4 … capped at 4 h)."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    first = FIRST_RETRY.total_seconds()
    longest = LONGEST_WAIT.total_seconds()
    # Cap the exponent before computing, so a huge attempt count cannot overflow.
    nominal = min(longest, first * 2 ** min(attempts - 1, 32))
    seconds = nominal * rng.uniform(1 - _SPREAD, 1 + _SPREAD)
    return timedelta(seconds=min(longest, max(first, seconds)))
