"""Atom out: ``/feed.atom`` (the ranked papers of the last days) and ``/topics/<id>.atom``
(what each library topic matches), cheap for feed readers to poll.

Each feed's ETag and Last-Modified come from one small query over its window, so a
reader's conditional GET is a 304 without loading a paper, and a built feed is kept in
memory under its ETag. Building reads as little as it can: ``/feed.atom`` ranks the
window's light references and reads only the papers it shows; a topic feed matches the
window's papers kept in memory per revision (:mod:`newsletter.web.search`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, Response

from newsletter.match import Matcher
from newsletter.records import Entry, Topic
from newsletter.store.records import PaperRef
from newsletter.web.atom import FeedInfo, atom_feed
from newsletter.web.cache import PageCache
from newsletter.web.papers import ranked
from newsletter.web.responses import error_page, etag, is_fresh, not_modified, validated
from newsletter.web.search import PaperMemo, match_topic
from newsletter.web.site import Site

FEED_DAYS = 3
"""``/feed.atom`` holds the papers of today and the two days before."""
TOPIC_DAYS = 7
"""A topic feed looks at a week of papers."""
FEED_ENTRIES = 100
MAX_AGE = 900
"""Seconds a reader or proxy may reuse a feed without asking."""
ATOM_TYPE = "application/atom+xml"

Build = Callable[[list[PaperRef], datetime], bytes]
"""Makes a feed from the references of its window and its ``updated`` time."""


def blueprint(site: Site, memo: PaperMemo) -> Blueprint:
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
            body = make(store.paper_refs(start, end), stamp.changed or start)
            built.put(tag, body)
        response = Response(body, mimetype=ATOM_TYPE)
        return validated(response, tag, stamp.changed, max_age=MAX_AGE)

    def read(refs: list[PaperRef]) -> list[Entry]:
        """The referenced papers, in the order given."""
        stored = store.read_entries([ref.key for ref in refs])
        return [stored[ref.key].entry for ref in refs if ref.key in stored]

    def info(path: str, title: str, subtitle: str, updated: datetime) -> FeedInfo:
        return FeedInfo(
            id_source=site.url(path),
            title=title,
            subtitle=subtitle,
            self_url=site.url(path),
            site_url=site.url("/"),
            author=site.title,
            updated=updated,
        )

    @feeds.get("/feed.atom")
    def everything() -> Response:
        def make(refs: list[PaperRef], updated: datetime) -> bytes:
            about = f"The most upvoted papers of the last {FEED_DAYS} days"
            papers = read(ranked(refs)[:FEED_ENTRIES])
            return atom_feed(info("/feed.atom", site.title, about, updated), papers, site.base_url)

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

        def make(refs: list[PaperRef], updated: datetime) -> bytes:
            about = f"Papers of the last {TOPIC_DAYS} days matching {chosen.title}"
            title = f"{site.title}: {chosen.title}"
            path = f"/topics/{chosen.id}.atom"
            papers = topic_entries(chosen, refs)
            return atom_feed(info(path, title, about, updated), papers, site.base_url)

        return answer(f"topic:{chosen.id}", TOPIC_DAYS, make)

    def topic_entries(topic: Topic, refs: list[PaperRef]) -> list[Entry]:
        """The topic's matches, best first; a trending topic's are its most upvoted."""
        if topic.query is None and topic.about is None:  # any paper: just the most upvoted
            return read(ranked(refs)[: topic.trending or FEED_ENTRIES])
        newest = sorted(refs, key=lambda ref: (-ref.published.timestamp(), ref.key))
        matcher = matchers.get(topic.id)
        if matcher is None:
            matcher = matchers[topic.id] = site.matcher([topic])
        hits = [entry for _, entry in match_topic(topic, memo.papers(newest), matcher).found]
        if topic.trending:
            return ranked(hits)[: topic.trending]
        return hits[:FEED_ENTRIES]

    return feeds
