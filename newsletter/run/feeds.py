"""The fetch phase: download and parse due feeds, then store what is new, feed by feed.

Whatever goes wrong with one feed — download, parse, clean, store — is that feed's error:
reported in its outcome, its state saved with backoff, the other feeds stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from newsletter import logs
from newsletter.config import Config
from newsletter.records import Entry, FetchStatus
from newsletter.sources import FeedSpec, FetchOutcome, fetch_feeds, merge_entries, politeness
from newsletter.store.protocols import EntryStore, FeedStore
from newsletter.store.records import EntryWrite

event = logs.events(__name__)

REVISION_TYPES = ("replace", "replace-cross")
"""arXiv announcements that only update papers already stored (a revision is not news)."""
MERGE_ATTEMPTS = 50
"""Rounds of read-merge-write; a round retries only the entries another writer changed
first, and every round settles at least one writer per entry."""


def feed_specs(config: Config) -> list[FeedSpec]:
    specs = []
    for feed in config.feeds:
        url = feed.url if "://" in feed.url else str(config.resolve(feed.url))
        kinds = feed.announce_types
        if feed.type == "arxiv":  # revisions are read too: they update papers we already have
            kinds = tuple(dict.fromkeys(kinds + REVISION_TYPES))
        specs.append(FeedSpec(name=feed.name, url=url, type=feed.type, announce_types=kinds))
    return specs


def split_revisions(
    entries: Iterable[Entry], wanted: Sequence[str]
) -> tuple[list[Entry], list[Entry]]:
    """(entries to store as news, revisions that only update papers already stored)."""
    news: list[Entry] = []
    revisions: list[Entry] = []
    for entry in entries:
        kind = entry.announce_type
        (news if kind is None or kind in wanted else revisions).append(entry)
    return news, revisions


def store_entries(
    store: EntryStore, new: Iterable[Entry], *, now: datetime, insert_missing: bool = True
) -> tuple[int, int]:
    """Store entries once under their key, merging later sightings. Returns (added, merged).

    The merge is decided here and applied by the store, which refuses a write computed from
    a stale read; the conflicting entries are read and merged again. With
    ``insert_missing=False`` only entries already stored are updated (a new version of a
    paper we have; a revision of one we never had is not news).
    """
    batch: dict[str, Entry] = {}
    for entry in new:
        batch[entry.key] = merge_entries(batch[entry.key], entry) if entry.key in batch else entry
    added = merged = 0
    pending = batch
    for _attempt in range(MERGE_ATTEMPTS):
        if not pending:
            return added, merged
        stored = store.read_entries(list(pending))
        writes: list[EntryWrite] = []
        for key, entry in pending.items():
            old = stored.get(key)
            if old is None:
                if insert_missing:
                    writes.append(EntryWrite(entry))
                continue
            combined = merge_entries(old.entry, entry)
            if combined != old.entry:
                writes.append(EntryWrite(combined, expected=old.revision))
        conflicts = set(store.write_entries(writes, now=now))
        for write in writes:
            if write.entry.key not in conflicts:
                added += write.expected is None
                merged += write.expected is not None
        # Each round, every contended entry has a winner, so this ends within as many
        # rounds as there are concurrent writers.
        pending = {key: batch[key] for key in conflicts}
    raise RuntimeError(f"entries kept changing under concurrent writers: {sorted(pending)[:5]}")


def fetch_and_store(
    config: Config,
    store: FeedStore,
    entries: EntryStore,
    *,
    now: Callable[[], datetime],
    force: bool = False,
    progress: Callable[[FetchOutcome], None] | None = None,
) -> list[FetchOutcome]:
    """Fetch every due feed and store what is new. One broken feed never stops the others."""
    stored = store.stored_feeds()
    specs = feed_specs(config)
    by_name = {spec.name: spec for spec in specs}
    wanted = {feed.name: feed.announce_types for feed in config.feeds}
    outcomes = fetch_feeds(
        [
            (spec, stored[spec.name].state_for(spec.url) if spec.name in stored else None)
            for spec in specs
        ],
        now=now,
        force=force,
        progress=progress,
        allow_private=config.fetch_private_addresses,
    )
    saved = []
    for outcome in outcomes:
        at = now()
        try:
            # Entries first, caching headers after: a crash in between costs a re-fetch
            # (merged harmlessly), never entries lost behind a 304 for an unstored body.
            news, revisions = split_revisions(outcome.entries, wanted[outcome.feed])
            store_entries(entries, news, now=at)
            store_entries(entries, revisions, now=at, insert_missing=False)
        except Exception as exc:
            event("feed_store_failed", logging.ERROR, exc_info=True, feed=outcome.feed)
            message = f"could not store its entries: {type(exc).__name__}: {exc}"
            # Forget the validators that came with the unstored body, or the next fetch
            # would be "not modified" and these entries lost for good.
            failed = politeness.failed(outcome.state, now=at, message=message)
            outcome = replace(
                outcome,
                status=FetchStatus.ERROR,
                entries=(),
                message=message,
                state=replace(failed, etag=None, last_modified=None),
            )
        store.save_feed(
            outcome.feed, outcome.state, config_url=by_name[outcome.feed].url, fetched_at=at
        )
        saved.append(outcome)
    return saved
