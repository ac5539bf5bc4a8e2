"""Atom out: ``/feed.atom`` (the ranked papers of the last days) and ``/topics/<id>.atom``
(what each library topic matches), cheap for feed readers to poll.

Each feed's ETag and Last-Modified come from one small query over its window, so a
reader's conditional GET is a 304 without loading a paper; a built feed is kept in
memory under its ETag.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, Response

from newsletter.match import Matcher
from newsletter.records import Entry, Topic
from newsletter.web.atom import FeedInfo, atom_feed
from newsletter.web.cache import PageCache
from newsletter.web.papers import rank_key, ranked
from newsletter.web.responses import error_page, etag, is_fresh, not_modified, validated
from newsletter.web.site import Site

FEED_DAYS = 3
"""``/feed.atom`` holds the papers of today and the two days before."""
TOPIC_DAYS = 7
"""A topic feed looks at a week of papers."""
FEED_ENTRIES = 100
MAX_AGE = 900
"""Seconds a reader or proxy may reuse a feed without asking."""
ATOM_TYPE = "application/atom+xml"

Build = Callable[[list[Entry], datetime], bytes]
"""Makes a feed from the entries of its window and its ``updated`` time."""


def blueprint(site: Site) -> Blueprint:
    feeds = Blueprint("feeds", __name__)
    built = PageCache(min(site.page_cache_bytes, 8 * 1024 * 1024))
    store = site.store
    matchers: dict[str, Matcher] = {}

    def window(days: int) -> tuple[datetime, datetime]:
        start = site.day_start(site.today() - timedelta(days=days - 1))
        return start, site.now() + timedelta(days=1)

    def answer(name: str, days: int, make: Build) -> Response:
        start, end = window(days)
        stamp = store.papers_stamp(start, end)
        tag = etag("atom", name, site.fingerprint, start, stamp)
        if is_fresh(tag, stamp.changed):
            return not_modified(tag, stamp.changed, max_age=MAX_AGE)
        body = built.get(tag)
        if body is None:
            body = make(store.papers_between(start, end), stamp.changed or start)
            built.put(tag, body)
        response = Response(body, mimetype=ATOM_TYPE)
        return validated(response, tag, stamp.changed, max_age=MAX_AGE)

    @feeds.get("/feed.atom")
    def everything() -> Response:
        def make(entries: list[Entry], updated: datetime) -> bytes:
            info = FeedInfo(
                id_source=site.url("/feed.atom"),
                title=site.title,
                subtitle=f"The most upvoted papers of the last {FEED_DAYS} days",
                self_url=site.url("/feed.atom"),
                site_url=site.url("/"),
                author=site.title,
                updated=updated,
            )
            return atom_feed(info, ranked(entries)[:FEED_ENTRIES], site.base_url)

        return answer("all", FEED_DAYS, make)

    @feeds.get("/topics/<topic_id>.atom")
    def topic(topic_id: str) -> Response:
        found = site.topics.get(topic_id)
        if found is None:
            return error_page(
                404,
                "Not found",
                "There is no topic with this id.",
                title=site.title,
                nav=site.nav,
                links=[(site.path("/"), "Today's papers")],
            )
        chosen: Topic = found

        def make(entries: list[Entry], updated: datetime) -> bytes:
            url = site.url(f"/topics/{chosen.id}.atom")
            info = FeedInfo(
                id_source=url,
                title=f"{site.title}: {chosen.title}",
                subtitle=f"Papers of the last {TOPIC_DAYS} days matching {chosen.title}",
                self_url=url,
                site_url=site.url("/"),
                author=site.title,
                updated=updated,
            )
            return atom_feed(info, topic_entries(chosen, entries), site.base_url)

        return answer(f"topic:{chosen.id}", TOPIC_DAYS, make)

    def topic_entries(topic: Topic, entries: list[Entry]) -> list[Entry]:
        """The topic's matches, best first; a trending topic's are its most upvoted."""
        if topic.query is None and topic.about is None:
            picked = entries
            scores: dict[str, float] = {}
        else:
            matcher = matchers.get(topic.id)
            if matcher is None:
                matcher = matchers[topic.id] = site.matcher([topic])
            found = matcher.match(entries)
            scores = {key: m[topic.id].score for key, m in found.items() if topic.id in m}
            picked = [e for e in entries if e.key in scores]
        if topic.trending:
            return ranked(picked)[: topic.trending]
        picked.sort(key=lambda e: (-scores.get(e.key, 0.0), rank_key(e)))
        return picked[:FEED_ENTRIES]

    return feeds
