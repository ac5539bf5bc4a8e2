"""`match` and `preview`: what a query or a subscriber's next digest holds, and why."""

from __future__ import annotations

import webbrowser
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import ConfigError, Problem
from newsletter.match import QuerySyntaxError, parse
from newsletter.pipeline import (
    App,
    active_subscribers,
    make_matcher,
    plan_digests,
    render_messages,
)
from newsletter.records import Entry, Subscriber, Topic
from newsletter.sources import FeedSpec, fetch_feeds


@dataclass(frozen=True)
class MatchRow:
    title: str
    link: str
    score: float
    topics: tuple[str, ...]
    matched_terms: tuple[str, ...]
    published: str
    similarity: float | None = None

    def as_json(self) -> dict[str, object]:
        row: dict[str, object] = {
            "title": self.title,
            "link": self.link,
            "score": round(self.score, 4),
            "topics": list(self.topics),
            "matched_terms": list(self.matched_terms),
            "published": self.published,
        }
        if self.similarity is not None:
            row["similarity"] = round(self.similarity, 4)
        return row


def entries_from(app: App, feed: str | None) -> list[Entry]:
    """The stored entries, or those of one feed fetched now (stored nowhere)."""
    if feed is None:
        return app.store.all_entries()
    url = feed if "://" in feed else str(Path(feed).expanduser().resolve())
    (outcome,) = fetch_feeds([(FeedSpec(name="cli", url=url), None)], now=app.clock, force=True)
    if outcome.status == "error":
        raise ConfigError([Problem(feed, None, f"cannot read the feed: {outcome.message}")])
    return list(outcome.entries)


def match_query(app: App, query: str, *, feed: str | None = None) -> list[MatchRow]:
    """Entries the query matches, best first, with the words that matched."""
    try:
        parse(query)
    except QuerySyntaxError as exc:
        raise ConfigError(
            [Problem("query", None, f"{exc.message} (column {exc.column + 1})", exc.caret())]
        ) from None
    topic = Topic(id="query", title="query", query=query)
    entries = entries_from(app, feed)
    matches = make_matcher(app, [topic]).match(entries)
    rows = []
    for entry in entries:
        found = matches.get(entry.key, {}).get("query")
        if found is None:
            continue
        rows.append(
            MatchRow(
                title=entry.title,
                link=entry.link,
                score=found.score,
                topics=("query",),
                matched_terms=found.terms,
                published=entry.published.isoformat(),
                similarity=found.similarity,
            )
        )
    rows.sort(key=lambda r: r.published, reverse=True)  # newest first among equal scores
    rows.sort(key=lambda r: -r.score)
    return rows


def known_subscriber(app: App, email: str) -> Subscriber:
    subscriber = app.config.subscriber(email)
    if subscriber is None:
        raise ConfigError(
            [
                Problem(
                    str(app.config.subscribers_path),
                    None,
                    f"no subscriber {email} — check the address or add them",
                )
            ]
        )
    return subscriber


def subscriber_rows(app: App, email: str) -> list[MatchRow]:
    """What this subscriber's next digest would hold (nothing is recorded)."""
    subscriber = known_subscriber(app, email)
    digests = plan_digests(app, [subscriber])
    if not digests:
        return []
    return [
        MatchRow(
            title=item.entry.title,
            link=item.entry.link,
            score=item.score,
            topics=item.topics,
            matched_terms=item.terms,
            published=item.entry.published.isoformat(),
        )
        for item in digests[0].items
    ]


def preview(app: App, email: str, *, out_dir: Path, open_browser: bool = False) -> Path | None:
    """Write the subscriber's next digest as ``.html`` and ``.txt``; None when nothing is new."""
    known_subscriber(app, email)
    chosen = active_subscribers(app, email)
    digests = plan_digests(app, chosen)
    if not digests:
        return None
    secret = app.env.secret or "preview-secret-not-for-real-mail"
    (message,) = list(render_messages(app, digests, run_key="preview", secret=secret))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = message.recipient.replace("/", "_")
    html = out_dir / f"{stem}.html"
    html.write_text(message.html, encoding="utf-8")
    (out_dir / f"{stem}.txt").write_text(message.text, encoding="utf-8")
    if open_browser:
        webbrowser.open(html.resolve().as_uri())
    return html
