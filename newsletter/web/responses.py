"""Responses every blueprint builds the same way: pages, headers, caching and 304s.

- Pages that carry a token (unsubscribe, archived digests) are ``no-store``: the token is
  the credential. That is the default for every response that sets nothing else.
- Public pages and feeds carry an ETag computed from a cheap stamp of their data, so a
  conditional GET is answered 304 before anything is loaded or rendered.
- No page runs inline script, and only the sign-up form loads one: the app's own file
  that prefills the time zone (``script-src 'self'`` on that page alone; the form works
  without it). The site's stylesheet is allowed by its hash; an archived digest
  (inlined mail HTML) needs inline styles and gets a policy of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from flask import Response, request

from newsletter.web.templating import render, style_hash

NO_STORE = "no-store"
NOINDEX = "noindex, nofollow"


def site_policy(*, script: bool = False) -> str:
    """The Content-Security-Policy of the site's own pages (``script``: the app's own
    script files may run, for the one page that uses one)."""
    scripts = "script-src 'self'; " if script else ""
    return (
        f"default-src 'none'; {scripts}style-src {style_hash()}; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


ARCHIVE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
"""An archived digest: inline styles (it is mail HTML), images over https, nothing else."""


def page(name: str, status: int = 200, **context: object) -> Response:
    return Response(render(name, **context), status=status, mimetype="text/html")


def etag(*parts: object) -> str:
    """A strong validator from the values a response is built from."""
    material = "\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).hexdigest()[:32]


def _second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def is_fresh(tag: str, changed: datetime | None) -> bool:
    """Whether the client's copy is current (If-None-Match wins over If-Modified-Since)."""
    if request.if_none_match:
        return request.if_none_match.contains(tag)
    since = request.if_modified_since
    return since is not None and changed is not None and _second(changed) <= since


def validated(response: Response, tag: str, changed: datetime | None, *, max_age: int) -> Response:
    """Mark a response cacheable for ``max_age`` seconds, with its validators."""
    response.set_etag(tag)
    if changed is not None:
        response.last_modified = _second(changed)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


def not_modified(tag: str, changed: datetime | None, *, max_age: int) -> Response:
    return validated(Response(status=304), tag, changed, max_age=max_age)


def secure(response: Response) -> Response:
    """Headers every response carries; a view may have set its own policy or caching."""
    response.headers.setdefault("Cache-Control", NO_STORE)
    response.headers.setdefault("Content-Security-Policy", site_policy())
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def error_page(
    status: int,
    heading: str,
    reason: str,
    *,
    title: str,
    nav: object = None,
    advice: str = "",
    problem: str | None = None,
    links: Iterable[tuple[str, str]] = (),
    query: str = "",
) -> Response:
    """A page that says what went wrong and what to do, never a traceback."""
    return page(
        "error.html",
        status,
        heading=heading,
        title=title,
        nav=nav,
        reason=reason,
        advice=advice,
        problem=problem,
        links=[{"url": url, "text": text} for url, text in links],
        query=query,
    )
