"""Every digest on the web: ``/d/<token>`` shows what was sent, ``/d/<token>/all`` every
match of a digest that was cut.

The token (160 random bits) is the only credential, so these pages are ``no-store``,
``noindex`` and send no Referer, and the copy shown leaves out the subscriber's address
and links (:mod:`newsletter.web.scrub`): a forwarded link hands over nothing. A token
that never existed answers 404; one whose copy expired (``archive_days``) answers 410.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response

from newsletter.render import textutil
from newsletter.store.records import ArchivedDigest
from newsletter.web.responses import ARCHIVE_POLICY, NO_STORE, NOINDEX, error_page, page
from newsletter.web.scrub import html_part, public_copy
from newsletter.web.site import Site

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def blueprint(site: Site) -> Blueprint:
    archive = Blueprint("archive", __name__)

    def problem(status: int, heading: str, reason: str) -> Response:
        links = [(site.path("/"), "Today's papers")] if site.public_site else []
        response = error_page(status, heading, reason, title=site.title, nav=site.nav, links=links)
        response.headers["X-Robots-Tag"] = NOINDEX
        return response

    def gone() -> Response:
        return problem(
            410,
            "This digest has expired",
            f"Digests stay on the web for {textutil.plural(site.archive_days, 'day')}; "
            "this one is older and has been removed.",
        )

    def missing() -> Response:
        return problem(
            404,
            "No digest here",
            "This link does not lead to a digest. Check that it was copied whole.",
        )

    def sent_on(found: ArchivedDigest) -> str:
        return textutil.format_long_date(found.created_at.astimezone(site.zone))

    def find(token: str) -> ArchivedDigest | Response:
        if not _TOKEN.fullmatch(token):
            return missing()
        found = site.store.archived(token)
        if found is None:
            return missing()
        if found.expired or found.created_at <= site.now() - timedelta(days=site.archive_days):
            return gone()
        return found

    def private(response: Response) -> Response:
        response.headers["Cache-Control"] = NO_STORE
        response.headers["X-Robots-Tag"] = NOINDEX
        return response

    @archive.get("/d/<token>")
    def digest(token: str) -> Response:
        found = find(token)
        if isinstance(found, Response):
            return found
        html = html_part(found.data)
        if html is None:
            return gone()
        body = public_copy(
            html,
            subscriber=found.subscriber,
            base_url=site.base_url,
            self_url=site.url(f"/d/{token}"),
        )
        response = private(Response(body, mimetype="text/html"))
        response.headers["Content-Security-Policy"] = ARCHIVE_POLICY
        return response

    @archive.get("/d/<token>/all")
    def every_match(token: str) -> Response:
        found = find(token)
        if isinstance(found, Response):
            return found
        digest_url = site.path(f"/d/{token}")
        if not found.matches:
            return problem(
                404,
                "Nothing was left out",
                "Every match of this digest is in it; there is no longer list.",
            )
        in_mail = sum(m.in_mail for m in found.matches)
        summary = (
            f"{textutil.plural(len(found.matches), 'paper')} matched; "
            f"{textutil.plural(in_mail, 'was', 'were')} in the mail."
        )
        return private(
            page(
                "archive_all.html",
                title=site.title,
                heading=f"Every match of the digest of {sent_on(found)}",
                nav=site.nav,
                summary=summary,
                digest_url=digest_url,
                matches=found.matches,
            )
        )

    return archive
