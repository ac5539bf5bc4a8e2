"""The app factory: one Flask app, one blueprint per concern, all under ``base_url``'s path.

- ``unsubscribe`` (always): confirm, one-click unsubscribe, resubscribe.
- ``archive`` (with a site): every digest at ``/d/<token>``.
- ``public`` and ``feeds`` (with a site whose ``public_site`` is on): the day's papers,
  search, Atom out.

Every response gets the safety headers (:func:`newsletter.web.responses.secure`); an
error is a page, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from newsletter import logs
from newsletter.store.protocols import SuppressionStore
from newsletter.subscriptions.signup import Subscriptions
from newsletter.web import archive, feeds, public, unsubscribe
from newsletter.web.responses import error_page, secure
from newsletter.web.search import PaperMemo
from newsletter.web.site import Site

event = logs.events(__name__)

Suppressions = SuppressionStore
"""Where unsubscribed addresses are kept (the store's suppression table)."""


def normalise_base_path(base_path: str) -> str:
    """``/``, ``/news/`` or ``news`` → the prefix routes hang under (``""`` or ``/news``)."""
    path = "/" + base_path.strip().strip("/")
    if any(c in path for c in "?#\\ ") or "//" in path:
        raise ValueError(f"base path must be a plain URL path like /newsletter, got {base_path!r}")
    return "" if path == "/" else path


def create_app(
    *,
    secret: str,
    suppressions: Suppressions,
    base_path: str = "/",
    title: str = "newsletter",
    now: Callable[[], datetime],
    max_age: timedelta | None = None,
    site: Site | None = None,
    trusted_proxies: int = 0,
    subscriptions: Subscriptions | None = None,
) -> Flask:
    """Build the WSGI app; routes answer under ``base_path`` (the path of ``base_url``).

    Without ``site`` only the unsubscribe pages (and ``/healthz``) are served. With
    ``trusted_proxies`` N > 0 the client address is the one N proxies back in
    ``X-Forwarded-For`` (serve it with the same ``trusted_proxies``, so waitress keeps the
    header).
    """
    if not secret:
        raise ValueError("NEWSLETTER_SECRET is empty; set it to a long random string")
    prefix = normalise_base_path(base_path)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, PROPAGATE_EXCEPTIONS=False)
    if trusted_proxies:
        # The client address is the one the nearest trusted proxy saw: X-Forwarded-For
        # entries beyond the trusted proxies are the client's own claim and are ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies)  # type: ignore[method-assign]
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri="memory://",
        headers_enabled=True,
        key_prefix="newsletter",
    )
    nav = site.nav if site is not None else None

    def register(blueprint: Blueprint) -> None:
        app.register_blueprint(blueprint, url_prefix=prefix or None)

    register(
        unsubscribe.blueprint(
            secret=secret,
            suppressions=suppressions,
            prefix=prefix,
            title=title,
            now=now,
            max_age=max_age,
        )
    )
    if site is not None:
        register(archive.blueprint(site))
        if site.public_site:
            memo = PaperMemo(site.store)  # shared: search and topic feeds read the same papers
            register(public.blueprint(site, limiter, memo))
            register(feeds.blueprint(site, memo))

    health = Blueprint("health", __name__)

    @health.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    register(health)

    def advice_for(path: str) -> str:
        if path.startswith((f"{prefix}/unsubscribe", f"{prefix}/resubscribe")):
            return unsubscribe.ADVICE
        return "" if nav else unsubscribe.ADVICE

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        reason = exc.description or exc.name
        if code == 429:
            reason = (
                "Too many searches from your address in a short time. Wait a minute and try again."
            )
        response = error_page(
            code, exc.name, reason, title=title, nav=nav, advice=advice_for(request.path)
        )
        if code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        event("web_error", logging.ERROR, exc_info=True, path=request.path)
        return error_page(
            500,
            "Something went wrong",
            "Your request could not be completed because of a problem on our side.",
            title=title,
            nav=nav,
            advice="Please try again in a few minutes.",
        )

    app.after_request(secure)
    return app
