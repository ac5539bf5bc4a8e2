"""SIGTERM and SIGINT as a stop request: finish the message in flight, then end cleanly.

A run's stop token (a ``threading.Event``) is checked between phases and after each
delivered message; turning the signals into that token is what lets ``send`` (and the
``bounces`` poller) stop without abandoning a message the relay already accepted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set ``stop`` instead of killing the process.

    Signal handlers can only be installed from the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()  # only sets a flag: safe whatever the main thread was doing

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def passed_on_to(
    stop: threading.Event, processes: Sequence[BaseProcess], name: str
) -> Iterator[None]:
    """While inside, a stop request is passed on to the child ``processes`` as SIGTERM
    (each finishes what it has in hand, as :func:`stop_on_signals` makes it do)."""
    done = threading.Event()

    def watch() -> None:
        told: set[int] = set()
        while not done.wait(0.2):
            if stop.is_set():
                # A process still starting (in another thread) is told once it runs.
                for n, process in enumerate(processes):
                    if n not in told and process.is_alive():
                        process.terminate()
                        told.add(n)
                if len(told) == len(processes):
                    return

    watcher = threading.Thread(target=watch, name=name, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
