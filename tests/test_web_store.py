"""What the web reads from the store: papers by publication time, and the digest archive."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.records import CarriedEntry, Message, OutboxStatus
from newsletter.store import ArchiveCopy, ArchivedMatch, Store
from newsletter.store.schema import archive, outbox
from tests.web_support import NOW, add, paper, store_url, update


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(store_url(database_url, tmp_path))
    yield opened
    opened.close()


def message(recipient: str, key: str, number: int = 1) -> Message:
    data = f"Subject: digest {number}\r\n\r\nhello {recipient}\r\n".encode()
    return Message(
        recipient=recipient,
        sender="digest@example.org",
        message_id=f"<m{number}.{recipient.partition('@')[0]}@example.org>",
        subject=f"digest {number}",
        data=data,
        html="<p>hello</p>",
        text="hello",
        carried=(CarriedEntry(key),),
    )


def test_papers_by_publication_time_and_the_neighbouring_days(store: Store) -> None:
    day = timedelta(days=1)
    add(store, [paper(1, published=NOW - 3 * day), paper(2, published=NOW), paper(3)])
    add(store, [paper(4, published=NOW + day + timedelta(hours=1))])
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    assert {r.key for r in store.paper_refs(start, end)} == {
        "arxiv:2611.00002",
        "arxiv:2611.00003",
    }
    assert store.published_before(start) == NOW - 3 * day
    assert store.published_from(end) == NOW + day + timedelta(hours=1)
    assert store.published_before(NOW - 3 * day) is None
    assert store.published_from(NOW + 2 * day) is None
    assert [r.key for r in store.newest_refs(2)] == ["arxiv:2611.00004", "arxiv:2611.00002"]
    assert store.newest_refs(0) == []
    refs = {r.key: r for r in store.paper_refs(start, end)}
    assert set(refs) == {"arxiv:2611.00002", "arxiv:2611.00003"}
    assert refs["arxiv:2611.00002"].revision == 0 and refs["arxiv:2611.00002"].published == NOW


def test_the_stamp_moves_when_a_paper_of_the_window_changes(store: Store) -> None:
    first = paper(1, popularity=3)
    add(store, [first, paper(2, published=NOW - timedelta(days=5))])
    window = (NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    before = store.papers_stamp(*window)
    assert before.count == 1 and before.changed == NOW
    update(store, first, NOW + timedelta(minutes=5), popularity=9)
    assert [(r.revision, r.popularity) for r in store.paper_refs(*window)] == [(1, 9)]
    after = store.papers_stamp(*window)
    assert after.count == 1 and after.changed == NOW + timedelta(minutes=5)
    assert store.papers_stamp(NOW - timedelta(days=6)).count == 2  # open-ended window
    assert store.papers_stamp(NOW + timedelta(days=1)).count == 0


def test_an_archive_row_is_written_with_its_message_or_not_at_all(store: Store) -> None:
    add(store, [paper(1), paper(2)])
    run = store.claim_run("manual", "p1", NOW)
    assert run is not None
    matches = (ArchivedMatch("Paper number 1", "https://x.org/1", ("Attention",), ("attention",)),)
    copies = [
        ArchiveCopy("tok-alice-0123456789ab", "<m1.alice@example.org>", matches),
        ArchiveCopy("tok-bob-0123456789abcd", "<m1.bob@example.org>"),
    ]
    written = store.enqueue(
        run,
        [
            message("alice@example.org", "arxiv:2611.00001"),
            message("bob@example.org", "arxiv:2611.00001"),
        ],
        NOW,
        archive=copies,
    )
    assert written == 2
    alice = store.archived("tok-alice-0123456789ab")
    assert alice is not None and not alice.expired
    assert alice.subscriber == "alice@example.org" and alice.created_at == NOW
    assert b"hello alice@example.org" in alice.data
    assert alice.matches == matches
    bob = store.archived("tok-bob-0123456789abcd")
    assert bob is not None and bob.matches == ()
    assert store.archived("tok-nobody-0123456789ab") is None

    # A second run composing bob again (another process got there first) is dropped whole:
    # neither its outbox row nor its archive row is written.
    run2 = store.claim_run("manual", "p2", NOW)
    assert run2 is not None
    again = ArchiveCopy("tok-bob-again-0123456789", "<m2.bob@example.org>")
    dropped = store.enqueue(
        run2, [message("bob@example.org", "arxiv:2611.00001", 2)], NOW, archive=[again]
    )
    assert dropped == 0
    assert store.archived("tok-bob-again-0123456789") is None


def test_expiry_removes_the_copy_and_keeps_the_history(store: Store) -> None:
    add(store, [paper(1), paper(2)])
    run = store.claim_run("manual", "p1", NOW)
    assert run is not None
    store.enqueue(
        run,
        [
            message("alice@example.org", "arxiv:2611.00001"),
            message("bob@example.org", "arxiv:2611.00002"),
        ],
        NOW,
        archive=[
            ArchiveCopy(
                "tok-sent-0123456789abcd", "<m1.alice@example.org>", (ArchivedMatch("t", None),)
            ),
            ArchiveCopy("tok-waiting-0123456789ab", "<m1.bob@example.org>"),
        ],
    )
    rows = {row.subscriber: row for row in store.outbox_rows()}
    store.mark(rows["alice@example.org"].id, OutboxStatus.SENT, now=NOW, reply="250 ok")
    # bob's message is still deferred: it must keep its bytes until it is delivered.
    store.mark(
        rows["bob@example.org"].id,
        OutboxStatus.DEFERRED,
        now=NOW,
        reply="451 later",
        next_attempt=NOW + timedelta(hours=1),
    )

    assert store.expire_archive(NOW, NOW) == 0  # nothing older than the cut-off
    later = NOW + timedelta(days=31)
    assert store.expire_archive(NOW + timedelta(seconds=1), later) == 1
    gone = store.archived("tok-sent-0123456789abcd")
    assert gone is not None and gone.expired and gone.data == b"" and gone.matches == ()
    waiting = store.archived("tok-waiting-0123456789ab")
    assert waiting is not None and not waiting.expired and b"hello bob" in waiting.data
    assert store.expire_archive(NOW + timedelta(seconds=1), later) == 0  # idempotent

    history = {row.subscriber: row for row in store.outbox_rows()}
    assert history["alice@example.org"].status is OutboxStatus.SENT
    assert history["alice@example.org"].message_id == "<m1.alice@example.org>"
    assert history["alice@example.org"].data == b""
    assert history["bob@example.org"].data.startswith(b"Subject: digest 1")
    assert store.taken_entries_of(["alice@example.org"])["alice@example.org"].keys == {
        "arxiv:2611.00001"
    }
    with store.engine.connect() as conn:
        expired_at = conn.execute(
            select(archive.c.expired_at).where(archive.c.token == "tok-sent-0123456789abcd")
        ).scalar_one()
        data = conn.execute(
            select(outbox.c.data).where(outbox.c.id == history["alice@example.org"].id)
        ).scalar_one()
    assert expired_at == later
    assert zlib.decompress(data) == b""


def test_expiry_works_through_many_copies_in_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("newsletter.store.sql.archive.EXPIRE_CHUNK", 3)
    add(store, [paper(1)])
    run = store.claim_run("manual", "p1", NOW)
    assert run is not None
    people = [f"reader{i}@example.org" for i in range(8)]
    store.enqueue(
        run,
        [message(p, "arxiv:2611.00001") for p in people],
        NOW,
        archive=[
            ArchiveCopy(f"tok-{i:02d}-0123456789abcdef", f"<m1.{p.partition('@')[0]}@example.org>")
            for i, p in enumerate(people)
        ],
    )
    for row in store.outbox_rows():
        store.mark(row.id, OutboxStatus.FAILED, now=NOW, reply="550 no such user")
    assert store.expire_archive(NOW + timedelta(days=1), NOW + timedelta(days=1)) == 8
    assert all(store.archived(f"tok-{i:02d}-0123456789abcdef").expired for i in range(8))  # type: ignore[union-attr]
