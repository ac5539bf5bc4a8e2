"""Feed state, one row per configured feed name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from newsletter.sources.model import FeedState
from newsletter.store.records import StoredFeed
from newsletter.store.schema import feeds
from newsletter.store.sql.base import SqlBase

_STATE_FIELDS = tuple(f.name for f in fields(FeedState))


def _stored(row: Any) -> StoredFeed:
    state = FeedState(**{name: getattr(row, name) for name in _STATE_FIELDS})
    return StoredFeed(
        name=row.name, state=state, config_url=row.config_url, last_fetch=row.last_fetch
    )


class FeedsSql(SqlBase):
    def stored_feeds(self) -> Mapping[str, StoredFeed]:
        with self.engine.connect() as conn:
            return {row.name: _stored(row) for row in conn.execute(select(feeds))}

    def save_feed(
        self, name: str, state: FeedState, *, config_url: str, fetched_at: datetime
    ) -> None:
        values = asdict(state) | {"config_url": config_url, "last_fetch": fetched_at}
        with self.engine.begin() as conn:
            done = conn.execute(update(feeds).where(feeds.c.name == name).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(feeds).values(name=name, **values))
