"""`match` and `preview`: what a query or a subscriber's next digest holds, and why."""

from __future__ import annotations

import webbrowser
from dataclasses import dataclass
from pathlib import Path

from newsletter.app import App
from newsletter.compose import Composition
from newsletter.config import ConfigError, Problem
from newsletter.errors import OperationalError, UnknownSubscriber, UserError
from newsletter.match import QuerySyntaxError, parse
from newsletter.records import Entry, Stemming, Subscriber, SubscriberOrigin, Topic
from newsletter.run import Audience, DigestRun, FileSink, RunOptions
from newsletter.run.plan import make_matcher
from newsletter.sources import FeedSpec, fetch_feeds
from newsletter.subscriptions import roster


@dataclass(frozen=True)
class MatchRow:
    title: str
    link: str
    score: float
    topics: tuple[str, ...]
    matched_terms: tuple[str, ...]
    published: str
    id: str
    """The arXiv id without version when known, else the canonical key."""
    authors: tuple[str, ...] = ()
    summary: str = ""
    """The full cleaned text that was matched."""
    similarity: float | None = None

    @classmethod
    def of(
        cls,
        entry: Entry,
        *,
        score: float,
        topics: tuple[str, ...],
        terms: tuple[str, ...],
        similarity: float | None = None,
    ) -> MatchRow:
        return cls(
            title=entry.title,
            link=entry.link,
            score=score,
            topics=topics,
            matched_terms=terms,
            published=entry.published.isoformat(),
            id=entry.arxiv_id or entry.key,
            authors=entry.authors,
            summary=entry.abstract,
            similarity=similarity,
        )

    def as_json(self) -> dict[str, object]:
        row: dict[str, object] = {
            "id": self.id,
            "title": self.title,
            "link": self.link,
            "authors": list(self.authors),
            "summary": self.summary,
            "score": round(self.score, 4),
            "topics": list(self.topics),
            "matched_terms": list(self.matched_terms),
            "published": self.published,
        }
        if self.similarity is not None:
            row["similarity"] = round(self.similarity, 4)
        return row


@dataclass(frozen=True)
class SubscriberPlan:
    """What one subscriber's next digest would hold, and what did not make it, per topic."""

    subscriber: Subscriber
    rows: list[MatchRow]
    composition: Composition | None
    lookback_days: int
    max_items: int


class FeedUnreadable(UserError):
    """``match --feed`` was given a feed that cannot be read."""


def entries_from(app: App, feed: str | None) -> list[Entry]:
    """The stored entries, or those of one feed fetched now (stored nowhere)."""
    if feed is None:
        return app.store.all_entries()
    url = feed if "://" in feed else str(Path(feed).expanduser().resolve())
    (outcome,) = fetch_feeds(
        [(FeedSpec(name="cli", url=url), None)],
        now=app.clock,
        force=True,
        allow_private=app.config.fetch_private_addresses,
    )
    if outcome.status == "error":
        raise FeedUnreadable([Problem(feed, None, f"cannot read the feed: {outcome.message}")])
    return list(outcome.entries)


def match_query(
    app: App, query: str, *, feed: str | None = None, stemming: Stemming = "plural"
) -> list[MatchRow]:
    """Entries the query matches, best first, with the words that matched."""
    try:
        parse(query)
    except QuerySyntaxError as exc:
        raise ConfigError(
            [Problem("query", None, f"{exc.message} (column {exc.column + 1})", exc.caret())]
        ) from exc
    topic = Topic(id="query", title="query", query=query, stemming=stemming)
    entries = entries_from(app, feed)
    matcher = make_matcher([topic], app.store.vector_cache(), app.config)
    matches = matcher.match(entries)
    rows = []
    for entry in entries:
        found = matches.get(entry.key, {}).get("query")
        if found is None:
            continue
        rows.append(
            MatchRow.of(
                entry,
                score=found.score,
                topics=("query",),
                terms=found.terms,
                similarity=found.similarity,
            )
        )
    rows.sort(key=lambda r: r.published, reverse=True)  # newest first among equal scores
    rows.sort(key=lambda r: -r.score)
    return rows


def known_subscriber(app: App, email: str) -> Subscriber:
    """A subscriber of any origin (YAML, web, import) who gets digests."""
    subscriber = app.config.subscriber(email)
    if subscriber is not None:
        return subscriber
    found = roster(app.config, app.store, app.now()).find(email)
    if found is None or found.origin is SubscriberOrigin.CONFIG:
        raise UnknownSubscriber(email, str(app.config.subscribers_path))
    return found.subscriber


def subscriber_plan(app: App, email: str) -> SubscriberPlan:
    """What this subscriber's next digest would hold (nothing is recorded)."""
    subscriber = known_subscriber(app, email)
    # The address as stored (an international domain in its ASCII form), not as typed.
    only = Audience(only=subscriber.email)
    run = DigestRun(app, FileSink(Path()), RunOptions(audience=only))
    planned = next(iter(run.plan()), None)
    composition = planned.composition if planned is not None else None
    digest = composition.digest if composition is not None else None
    rows = [
        MatchRow.of(item.entry, score=item.score, topics=item.topics, terms=item.terms)
        for item in (digest.items if digest is not None else ())
    ]
    return SubscriberPlan(
        subscriber=subscriber,
        rows=rows,
        composition=composition,
        lookback_days=app.config.digest.lookback_days,
        max_items=app.config.digest.max_items,
    )


def preview(
    app: App, email: str, *, out_dir: Path, open_browser: bool = False, fetch: bool = True
) -> Path | None:
    """Write the subscriber's next digest as ``.html`` and ``.txt``; None when nothing is new."""
    only = Audience(only=known_subscriber(app, email).email)  # as stored, not as typed
    sink = FileSink(out_dir, numbered=False)
    DigestRun(app, sink, RunOptions(schedule="preview", audience=only, fetch=fetch)).execute()
    failed = next((row.error for row in sink.rows if row.error is not None), None)
    if failed is not None:
        raise OperationalError([Problem(email, None, failed)])
    written = next((row.path for row in sink.rows if row.path is not None), None)
    if written is not None and open_browser:
        webbrowser.open(written.resolve().as_uri())
    return written
