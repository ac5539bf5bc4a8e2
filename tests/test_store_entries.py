"""Storing entries: one row per key, and concurrent writers of the same paper do not fail."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from newsletter.config import load_config
from newsletter.records import Entry
from newsletter.run import store_entries
from newsletter.store import Store
from tests.conftest import Project

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def paper(key: str, feed: str, popularity: int | None = None) -> Entry:
    return Entry(
        key=key,
        title=f"Paper {key}",
        link=f"https://e.org/{key}",
        published=NOW,
        feeds=(feed,),
        categories=(feed,),
        popularity=popularity,
        first_seen=NOW,
    )


def test_many_writers_of_the_same_papers_at_once_leave_one_merged_row_each(
    project: Project,
) -> None:
    store = Store.open(load_config(project.config).database_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def write(n: int) -> None:
        try:
            barrier.wait()
            store_entries(
                store, [paper(f"arxiv:{k}", f"feed{n}", popularity=n) for k in range(50)], now=NOW
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = {e.key: e for e in store.all_entries()}
    assert len(stored) == 50
    assert set(stored["arxiv:7"].feeds) == {f"feed{n}" for n in range(6)}
    assert stored["arxiv:7"].popularity == 5
    store.close()
