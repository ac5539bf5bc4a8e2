"""The app factory: one Flask app, one blueprint per concern, all under ``base_url``'s path.

- ``unsubscribe`` (always): confirm, one-click unsubscribe, resubscribe.
- ``archive`` (with a site): every digest at ``/d/<token>``.
- ``public`` and ``feeds`` (with a site whose ``public_site`` is on): the day's papers,
  search, Atom out.
- ``subscribe`` (with subscriptions): sign-up with double opt-in, each subscriber's page.

Every form carries a Flask-WTF CSRF token, except the unsubscribe pages', whose signed
token is the credential and whose one-click POST (RFC 8058) must work with no cookie.

Every response gets the safety headers (:func:`newsletter.web.responses.secure`); an
error is a page, never a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from newsletter import logs
from newsletter.store.protocols import SuppressionStore
from newsletter.subscriptions.signup import Subscriptions
from newsletter.web import archive, feeds, public, subscribe, unsubscribe
from newsletter.web.responses import error_page, secure
from newsletter.web.search import PaperMemo
from newsletter.web.site import Site

event = logs.events(__name__)

Suppressions = SuppressionStore
"""Where unsubscribed addresses are kept (the store's suppression table)."""


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, Secure per request rather than per app."""

    def __init__(self, secure_host: str | None) -> None:
        self.secure_host = secure_host

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or (
            self.secure_host is not None and request.host == self.secure_host
        )


def normalise_base_path(base_path: str) -> str:
    """``/``, ``/news/`` or ``news`` → the prefix routes hang under (``""`` or ``/news``)."""
    path = "/" + base_path.strip().strip("/")
    if any(c in path for c in "?#\\ ") or "//" in path:
        raise ValueError(f"base path must be a plain URL path like /newsletter, got {base_path!r}")
    return "" if path == "/" else path


def session_key(secret: str) -> str:
    """Flask's ``SECRET_KEY`` (it signs the session cookie that holds the CSRF token),
    derived from the newsletter secret under its own label, never the secret itself."""
    return hmac.new(secret.encode("utf-8"), b"newsletter/web-session", hashlib.sha256).hexdigest()


CSRF_REASON = (
    "This form was not sent from this site's page, or the page is too old. "
    "Go back, reload the page and send the form again."
)


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
    signup_limits: subscribe.SignupLimits | None = None,
    secure_host: str | None = None,
) -> Flask:
    """Build the WSGI app; routes answer under ``base_path`` (the path of ``base_url``).

    Without ``site`` only the unsubscribe pages (and ``/healthz``) are served. With
    ``trusted_proxies`` N > 0 the client address is the one N proxies back in
    ``X-Forwarded-For`` (serve it with the same ``trusted_proxies``, so waitress keeps the
    header). ``subscriptions`` adds sign-up (when ``subscribe.enabled``) and the manage
    page, with ``signup_limits`` on ``POST /subscribe``. The session cookie (it holds only the
    CSRF secret) is Secure on requests that came over https and on requests for
    ``secure_host`` (``web_app`` passes the host of an https ``base_url``), so the public
    site always gets a Secure cookie while ``serve`` tried on http://127.0.0.1 still works.
    """
    if not secret:
        raise ValueError("NEWSLETTER_SECRET is empty; set it to a long random string")
    prefix = normalise_base_path(base_path)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=64 * 1024,
        PROPAGATE_EXCEPTIONS=False,
        SECRET_KEY=session_key(secret),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Pages send no Referer (tokens sit in URLs), so Flask-WTF's https Referer check
        # would refuse every form; the token and SameSite=Lax do the work.
        WTF_CSRF_SSL_STRICT=False,
        # The token lives as long as the browser session: a cached day page's form works.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = _SessionCookies(secure_host)
    csrf = CSRFProtect(app)
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

    unsubscribe_pages = unsubscribe.blueprint(
        secret=secret,
        suppressions=suppressions,
        prefix=prefix,
        title=title,
        now=now,
        max_age=max_age,
    )
    csrf.exempt(unsubscribe_pages)
    register(unsubscribe_pages)
    # shared: search, topic feeds and the sign-up form's examples read the same papers
    memo = PaperMemo(site.store) if site is not None else None
    signup_on = subscriptions is not None and subscriptions.settings.enabled
    if site is not None and memo is not None:
        register(archive.blueprint(site))
        if site.public_site:
            box = (
                subscribe.signup_box(subscriptions, prefix)
                if subscriptions is not None and signup_on
                else None
            )
            register(public.blueprint(site, limiter, memo, box))
            register(feeds.blueprint(site, memo))
    if subscriptions is not None:
        register(
            subscribe.blueprint(
                subscriptions,
                limiter=limiter,
                limits=signup_limits or subscribe.SignupLimits(),
                prefix=prefix,
                title=title,
                secret=secret,
                now=now,
                site=site,
                memo=memo,
            )
        )

    health = Blueprint("health", __name__)

    @health.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    register(health)

    def advice_for(path: str) -> str:
        if path.startswith((f"{prefix}/unsubscribe", f"{prefix}/resubscribe")):
            return unsubscribe.ADVICE
        return "" if nav else unsubscribe.ADVICE

    def too_many(path: str) -> str:
        if path.startswith(f"{prefix}/search"):
            return (
                "Too many searches from your address in a short time. Wait a minute and try again."
            )
        if path.startswith(f"{prefix}/subscribe"):
            return "Too many sign-ups in a short time. Wait a few minutes and try again."
        return "Too many requests from your address in a short time. Wait a minute and try again."

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        heading = exc.name
        reason = exc.description or exc.name
        if isinstance(exc, CSRFError):
            heading, reason = "This form has expired", CSRF_REASON
        elif code == 429:
            reason = too_many(request.path)
        response = error_page(
            code, heading, reason, title=title, nav=nav, advice=advice_for(request.path)
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
