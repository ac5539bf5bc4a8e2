"""Outbox coordination between concurrent senders and composers, on both backends."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.records import CarriedEntry, Message
from newsletter.store import Store
from tests.conftest import NOW


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    url = database_url
    if url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'outbox.db'}"
    opened = Store.open(url)
    yield opened
    opened.close()


def message(recipient: str, *keys: str, run: str = "r") -> Message:
    return Message(
        recipient=recipient,
        sender="digest@example.org",
        message_id=f"<{run}.{recipient}>",
        subject="Digest",
        data=b"Subject: Digest\r\n\r\nhello\r\n",
        html="",
        text="",
        carried=tuple(CarriedEntry(key) for key in keys),
    )


def run_threads(count: int, target: object) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_claimers_take_every_row_exactly_once(store: Store) -> None:
    run_id = store.claim_run("manual", "p1", NOW)
    assert run_id is not None
    store.enqueue(run_id, [message(f"s{i}@example.org", "e1") for i in range(300)], NOW)
    taken: list[int] = []
    lock = threading.Lock()

    def claimer(_: int) -> None:
        while rows := store.claim(NOW, timedelta(minutes=10), limit=7):
            with lock:
                taken.extend(row.id for row in rows)

    run_threads(6, claimer)
    assert len(taken) == 300 and len(set(taken)) == 300


def test_an_expired_lease_is_claimed_again_by_one_sender_only(store: Store) -> None:
    run_id = store.claim_run("manual", "p1", NOW)
    assert run_id is not None
    store.enqueue(run_id, [message(f"s{i}@example.org", "e1") for i in range(40)], NOW)
    first = store.claim(NOW, timedelta(minutes=10), limit=100)
    assert len(first) == 40 and all(row.attempts == 1 for row in first)
    assert store.claim(NOW + timedelta(minutes=5), timedelta(minutes=10), limit=100) == []
    later = NOW + timedelta(minutes=11)
    again: list[int] = []
    lock = threading.Lock()

    def claimer(_: int) -> None:
        while rows := store.claim(later, timedelta(minutes=10), limit=3):
            with lock:
                again.extend(row.id for row in rows)

    run_threads(4, claimer)
    assert sorted(again) == sorted(row.id for row in first)
    assert {row.attempts for row in store.outbox_rows()} == {2}


def test_a_digest_repeating_an_entry_the_subscriber_already_has_is_not_written(
    store: Store,
) -> None:
    first, second = store.claim_run("manual", "p1", NOW), store.claim_run("manual", "p2", NOW)
    assert first is not None and second is not None
    assert store.enqueue(first, [message("a@example.org", "e1", "e2")], NOW) == 1
    written = store.enqueue(
        second,
        [
            message("a@example.org", "e2", "e3", run="2"),
            message("b@example.org", "e2", run="2"),
        ],
        NOW,
    )
    assert written == 1
    assert [row.subscriber for row in store.outbox_rows()] == ["a@example.org", "b@example.org"]
    assert store.taken_entries_of(["a@example.org"])["a@example.org"].keys == {"e1", "e2"}
    assert store.enqueue(second, [message("a@example.org", "e3", run="3")], NOW) == 1


def test_two_composers_racing_for_the_same_subscribers_write_each_once(store: Store) -> None:
    people = [f"s{i}@example.org" for i in range(120)]
    runs = [store.claim_run("manual", f"p{i}", NOW) for i in range(4)]

    def composer(i: int) -> None:
        run_id = runs[i]
        assert run_id is not None
        batch = (
            [message(p, "e1", "e2", run=str(i)) for p in reversed(people)]
            if i % 2
            else [message(p, "e1", "e2", run=str(i)) for p in people]
        )
        for start in range(0, len(batch), 25):
            store.enqueue(run_id, batch[start : start + 25], NOW)

    run_threads(4, composer)
    per_subscriber = Counter(row.subscriber for row in store.outbox_rows())
    assert set(per_subscriber) == set(people)
    assert set(per_subscriber.values()) == {1}
