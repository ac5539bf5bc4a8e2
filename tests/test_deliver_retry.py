"""Backoff schedule and rate limiter, checked on an injected clock (no real waiting)."""

from __future__ import annotations

import itertools
import random
import threading
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.deliver.retry import backoff
from newsletter.deliver.throttle import RateLimiter


@given(attempts=st.integers(1, 10_000), seed=st.integers())
def test_backoff_stays_between_one_minute_and_four_hours(attempts: int, seed: int) -> None:
    delay = backoff(attempts, random.Random(seed))
    assert timedelta(minutes=1) <= delay <= timedelta(hours=4)


def test_backoff_grows_exponentially_and_is_jittered() -> None:
    rng = random.Random(7)
    medians = []
    for attempts in range(1, 10):
        draws = sorted(backoff(attempts, rng).total_seconds() for _ in range(51))
        medians.append(draws[25])
        if 2 <= attempts <= 8:
            assert draws[0] != draws[-1]  # jitter spreads retries of one outage
    assert medians[0] == pytest.approx(60, rel=0.25)
    assert medians[3] == pytest.approx(480, rel=0.25)
    assert medians == sorted(medians)
    assert medians[-1] == pytest.approx(4 * 3600, rel=0.25)


def test_backoff_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError):
        backoff(0, random.Random())


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def time(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_rate_limiter_spaces_calls_evenly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock.time, sleep=clock.sleep)
    starts = []
    for _ in range(9):
        limiter.wait()
        starts.append(clock.time())
    # 9 slots at 4/s span exactly 2 seconds: the first is immediate.
    assert starts[-1] - starts[0] == pytest.approx(2.0)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g == pytest.approx(0.25) for g in gaps)


def test_rate_limiter_hands_distinct_slots_to_threads() -> None:
    clock = FakeClock()
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(seconds)

    limiter = RateLimiter(10.0, clock=clock.time, sleep=sleep)
    threads = [threading.Thread(target=limiter.wait) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The clock never moved, so waits are 0.1, 0.2 ... 1.9 s: each thread its own slot.
    assert sorted(round(s, 6) for s in slept) == [round(0.1 * i, 6) for i in range(1, 20)]


def test_no_rate_means_no_waiting() -> None:
    limiter = RateLimiter(None, sleep=lambda s: pytest.fail("slept"))
    assert limiter.wait() == 0.0
