"""The day's papers and search: the seed's own product ("Daily Papers") on the web.

``/`` is today (in the newsletter's time zone), ``/papers/YYYY-MM-DD`` any day, ranked by
upvotes then date, with links to the previous and next days that have papers.
``/search?q=`` runs the topic language over the newest stored papers and marks the words
that matched; a bad query gets the caret ``check`` prints, status 400.

Day pages are validated by a stamp of their data (count and last change of the day's
entries, the neighbouring days): a conditional GET is a 304 after three small queries,
and a page already rendered for the same stamp is served from memory.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, Response, request
from flask_limiter import Limiter

from newsletter.checks import check_query
from newsletter.match import Matcher
from newsletter.records import Topic
from newsletter.render import textutil
from newsletter.web.cache import PageCache
from newsletter.web.days import long_day, parse_day, short_day
from newsletter.web.papers import paper, ranked
from newsletter.web.responses import error_page, etag, is_fresh, not_modified, page, validated
from newsletter.web.site import Site
from newsletter.web.templating import render

SEARCH_PAPERS = 5000
"""Search looks at this many of the newest papers (bounded work per request)."""
SEARCH_SHOWN = 100
TODAY_MAX_AGE = 60
"""Seconds a browser or proxy may reuse today's page (new papers arrive during the day)."""
PAST_MAX_AGE = 600
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def blueprint(site: Site, limiter: Limiter, cache: PageCache | None = None) -> Blueprint:
    public = Blueprint("public", __name__)
    pages = cache or PageCache()
    store = site.store

    def not_found(reason: str) -> Response:
        links = [(site.path("/"), "Today's papers")]
        return error_page(404, "Not found", reason, title=site.title, nav=site.nav, links=links)

    def day_page(day: date) -> Response:
        today = site.today()
        start, end = site.day_bounds(day)
        stamp = store.papers_stamp(start, end)
        before = store.published_before(start)
        after = store.published_from(end)
        previous = site.day_of(before) if before is not None else None
        following = site.day_of(after) if after is not None else None
        tag = etag("day", site.fingerprint, day, day == today, stamp, previous, following)
        max_age = TODAY_MAX_AGE if day >= today else PAST_MAX_AGE
        if is_fresh(tag, None):
            return not_modified(tag, None, max_age=max_age)
        body = pages.get(tag)
        if body is None:
            papers = [paper(entry) for entry in ranked(store.papers_between(start, end))]
            body = render(
                "day.html",
                title=site.title,
                heading=long_day(day),
                nav=site.nav,
                noindex=False,
                feed_url=site.path("/feed.atom"),
                papers=papers,
                count_text=textutil.plural(len(papers), "paper"),
                is_today=day == today,
                previous=_day_link(site, previous),
                next=_day_link(site, following),
            ).encode("utf-8")
            pages.put(tag, body)
        return validated(Response(body, mimetype="text/html"), tag, None, max_age=max_age)

    @public.get("/")
    def today() -> Response:
        return day_page(site.today())

    @public.get("/papers/<day>")
    def papers_of(day: str) -> Response:
        parsed = parse_day(day)
        if parsed is None:
            return not_found("There is no such day: days are written like 2026-11-26.")
        return day_page(parsed)

    def bad_query(reason: str, query: str = "", problem: str | None = None) -> Response:
        return error_page(
            400,
            "This search cannot run",
            reason,
            title=site.title,
            nav=site.nav,
            query=query,
            problem=problem,
            advice="Fix the query and search again.",
        )

    @public.get("/search")
    @limiter.limit(site.search_rate, exempt_when=lambda: not request.args.get("q"))
    def search() -> Response:
        raw = request.args.get("q", "")
        if len(raw) > site.max_query:
            return bad_query(f"A search may have at most {site.max_query} characters.")
        if _CONTROL.search(raw):
            return bad_query("The query contains control characters; type it as plain text.")
        query = raw.strip()
        if not query:
            return page(
                "search.html",
                title=site.title,
                heading="Search",
                nav=site.nav,
                query="",
                papers=[],
                summary="",
                corpus=f"{SEARCH_PAPERS:,}",
            )
        problem = check_query(query)
        if problem is not None:
            message, _, caret = problem.partition("\n")
            return bad_query(message, query, problem=caret or None)
        topic = Topic(id="search", title="Search", query=query)
        entries = store.newest_papers(SEARCH_PAPERS)
        found = Matcher([topic]).match(entries)
        hits = [(found[e.key]["search"], e) for e in entries if "search" in found[e.key]]
        hits.sort(key=lambda hit: (-hit[0].score, -hit[1].published.timestamp(), hit[1].key))
        papers = [paper(e, m.title_spans, m.abstract_spans) for m, e in hits[:SEARCH_SHOWN]]
        shown = f", the best {len(papers)} shown" if len(hits) > len(papers) else ""
        summary = (
            f"{textutil.plural(len(hits), 'paper')} of the newest "
            f"{len(entries):,} match{'es' if len(hits) == 1 else ''}{shown}."
        )
        return page(
            "search.html",
            title=site.title,
            heading=f"Search: {query}",
            nav=site.nav,
            query=query,
            papers=papers,
            summary=summary,
            corpus=f"{SEARCH_PAPERS:,}",
        )

    return public


def _day_link(site: Site, day: date | None) -> dict[str, str] | None:
    return None if day is None else {"url": site.day_url(day), "text": short_day(day)}
