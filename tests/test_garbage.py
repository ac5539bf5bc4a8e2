"""The collector's thresholds while a run composes, and after."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from newsletter.run.garbage import THRESHOLDS, fewer_collections


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_thresholds_are_raised_inside_and_restored_after() -> None:
    with fewer_collections():
        assert gc.get_threshold() == THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("composing failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_higher_thresholds_set_by_the_operator_are_kept() -> None:
    gc.set_threshold(100_000, 50, 200)
    with fewer_collections():
        assert gc.get_threshold() == (100_000, 50, 200)


def test_collection_turned_off_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)


def test_overlapping_runs_in_threads_restore_once_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.get_threshold())  # the first run ended; this one still composes

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [THRESHOLDS]
    assert gc.get_threshold() == (700, 10, 10)
