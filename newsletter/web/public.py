"""The day's papers and search: the seed's own product ("Daily Papers") on the web.

``/`` is today (in the newsletter's time zone), ``/papers/YYYY-MM-DD`` any day, ranked by
upvotes then date, with links to the previous and next days that have papers.
``/search?q=`` runs the topic language over the newest stored papers and marks the words
that matched; a bad query gets the caret ``check`` prints, status 400.

With sign-up on, the day's page ends in a compact sign-up form. Its CSRF token belongs to
the visitor's session, so the page is cached with a slot where the token goes, filled in
per response; its ETag includes the session's token and it may be cached only privately.

Day pages are validated by the day's (paper, revision) pairs and the neighbouring days:
a conditional GET is a 304 after three small queries, a page already rendered for the
same ETag is served from memory, and a page that must be built again renders only the
cards of papers with a new revision (:mod:`newsletter.web.cards`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import date

from flask import Blueprint, Response, request, session
from flask_limiter import Limiter
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from newsletter.checks import check_query
from newsletter.render import textutil
from newsletter.store.records import PaperRef
from newsletter.web.cache import PageCache
from newsletter.web.cards import CardCache, render_card
from newsletter.web.days import long_day, parse_day, short_day
from newsletter.web.papers import ranked
from newsletter.web.responses import error_page, etag, is_fresh, not_modified, page, validated
from newsletter.web.search import SEARCH_PAPERS, PaperMemo, SearchIndex
from newsletter.web.site import Site
from newsletter.web.templating import render

TODAY_MAX_AGE = 60
"""Seconds a browser or proxy may reuse today's page (new papers arrive during the day)."""
PAST_MAX_AGE = 600
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CSRF_SLOT = Markup(f"<!--csrf-{secrets.token_hex(12)}-->")
"""Where a cached day page gets the visitor's CSRF token. Text from feeds is escaped, so
only the template can produce this (random per process) marker."""


def blueprint(
    site: Site,
    limiter: Limiter,
    memo: PaperMemo,
    signup: Callable[[], dict[str, object]] | None = None,
) -> Blueprint:
    """``/``, ``/papers/<day>`` and ``/search``; ``signup`` gives the compact sign-up form's
    context (None: no form, sign-up is off)."""
    public = Blueprint("public", __name__)
    pages = PageCache(site.page_cache_bytes)
    cards = CardCache(site.card_cache_bytes)
    store = site.store
    index = SearchIndex(memo)

    def not_found(reason: str) -> Response:
        links = [(site.path("/"), "Today's papers")]
        return error_page(404, "Not found", reason, title=site.title, nav=site.nav, links=links)

    def cards_for(refs: list[PaperRef]) -> list[Markup]:
        """Each paper's card, best first: cached per revision, the rest rendered now."""
        found = {ref.key: cards.get(ref.key, ref.revision) for ref in refs}
        missing = [key for key, card in found.items() if card is None]
        for key, stored in (store.read_entries(missing) if missing else {}).items():
            card = render_card(stored.entry)
            cards.put(key, stored.revision, card)
            found[key] = card
        return [card for card in (found[ref.key] for ref in ranked(refs)) if card is not None]

    def day_page(day: date) -> Response:
        today = site.today()
        start, end = site.day_bounds(day)
        refs = store.paper_refs(start, end)
        before = store.published_before(start)
        after = store.published_from(end)
        previous = site.day_of(before) if before is not None else None
        following = site.day_of(after) if after is not None else None
        revisions = sorted((ref.key, ref.revision) for ref in refs)
        tag = etag("day", site.fingerprint, day, day == today, previous, following, revisions)
        max_age = TODAY_MAX_AGE if day >= today else PAST_MAX_AGE
        token = ""
        sent_tag = tag
        if signup is not None:
            token = generate_csrf()
            sent_tag = etag(tag, session.get("csrf_token", ""))
        if is_fresh(sent_tag, None):
            return private(not_modified(sent_tag, None, max_age=max_age))
        body = pages.get(tag)
        if body is None:
            shown = cards_for(refs)
            body = render(
                "day.html",
                title=site.title,
                heading=long_day(day),
                nav=site.nav,
                noindex=False,
                feed_url=site.path("/feed.atom"),
                cards=shown,
                count_text=textutil.plural(len(shown), "paper"),
                is_today=day == today,
                previous=_day_link(site, previous),
                next=_day_link(site, following),
                signup=signup() if signup is not None else None,
                csrf_slot=CSRF_SLOT,
            ).encode("utf-8")
            pages.put(tag, body)
        if signup is not None:
            body = body.replace(CSRF_SLOT.encode("ascii"), token.encode("ascii"), 1)
        response = Response(body, mimetype="text/html")
        return private(validated(response, sent_tag, None, max_age=max_age))

    def private(response: Response) -> Response:
        """A page with the visitor's CSRF token in it is theirs alone: no shared caches."""
        if signup is not None:
            response.headers["Cache-Control"] = response.headers["Cache-Control"].replace(
                "public", "private"
            )
        return response

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
        result = index.search(query)
        summary = (
            f"{textutil.plural(result.matched, 'paper')} of the newest {result.corpus:,} "
            f"match{'es' if result.matched == 1 else ''}"
        )
        if result.capped:
            summary = (
                f"Many of the newest {result.corpus:,} papers contain these words; the "
                f"{result.ranked} newest of them were ranked, and {result.matched} match. "
                "Narrow the query to reach older ones"
            )
        elif result.matched > len(result.papers):
            summary += f", the best {len(result.papers)} shown"
        summary += "."
        return page(
            "search.html",
            title=site.title,
            heading=f"Search: {query}",
            nav=site.nav,
            query=query,
            papers=result.papers,
            summary=summary,
            corpus=f"{SEARCH_PAPERS:,}",
        )

    return public


def _day_link(site: Site, day: date | None) -> dict[str, str] | None:
    return None if day is None else {"url": site.day_url(day), "text": short_day(day)}
