"""The unsubscribe web app (Flask): confirmation on GET, RFC 8058 one-click on POST, resubscribe.

Rules it keeps, and why:
- A GET never changes anything: mail scanners and link previews follow every link.
- POST ``/unsubscribe?token=…`` unsubscribes with no cookie, form or session, answers
  200 (never a redirect, which mailbox providers do not follow) and is idempotent.
- The token is the only credential; it names the address, so nobody can unsubscribe
  someone else by editing a URL.
- Pages never show a traceback, are not cached, not framed, and send no Referer
  (the token sits in the URL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from newsletter import logs
from newsletter.store.protocols import SuppressionStore
from newsletter.tokens import BadToken, read_token
from newsletter.web.pages import render

event = logs.events(__name__)

REASON_UNSUBSCRIBE = "unsubscribe"

_ADVICE = (
    "To stop the mail, use the unsubscribe link in your most recent digest, or reply to it and ask."
)


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
) -> Flask:
    """Build the WSGI app; routes answer under ``base_path`` (the path of ``base_url``)."""
    if not secret:
        raise ValueError("NEWSLETTER_SECRET is empty; set it to a long random string")
    prefix = normalise_base_path(base_path)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, PROPAGATE_EXCEPTIONS=False)
    pages = Blueprint("pages", __name__, url_prefix=prefix or None)

    def page(name: str, status: int, heading: str, **context: object) -> Response:
        html = render(name, heading=heading, title=title, **context)
        return Response(html, status=status, mimetype="text/html")

    def bad_request(reason: str) -> Response:
        return page("error", 400, "This link does not work", reason=reason, advice=_ADVICE)

    def urls(token: str) -> dict[str, str]:
        q = quote(token, safe="")
        return {
            "unsubscribe_url": f"{prefix}/unsubscribe?token={q}",
            "resubscribe_url": f"{prefix}/resubscribe",
            "token": token,
        }

    def with_token(handle: Callable[[str, str], Response]) -> Callable[[], Response]:
        """A route whose only credential is the signed token (query string or form)."""

        def route() -> Response:
            token = request.args.get("token") or request.form.get("token")
            if not token:
                return bad_request("This link is incomplete: it carries no token.")
            try:
                email = read_token(token, secret, now=now(), max_age=max_age)
            except BadToken as exc:
                return bad_request(str(exc))
            return handle(email, token)

        route.__name__ = handle.__name__
        return route

    def confirm(email: str, token: str) -> Response:
        if suppressions.is_suppressed(email):
            return page("already", 200, "Already unsubscribed", email=email, **urls(token))
        return page("confirm", 200, "Unsubscribe?", email=email, **urls(token))

    def unsubscribe(email: str, token: str) -> Response:
        # Idempotent: a repeat keeps the original date ("suppressed since").
        if not suppressions.is_suppressed(email):
            suppressions.suppress(email, REASON_UNSUBSCRIBE, now())
            event("unsubscribed", email=email)
        return page("unsubscribed", 200, "You are unsubscribed", email=email, **urls(token))

    def resubscribe(email: str, token: str) -> Response:
        if suppressions.is_suppressed(email):
            suppressions.unsuppress(email)
            event("resubscribed", email=email)
        return page("resubscribed", 200, "You are subscribed again", email=email, **urls(token))

    pages.get("/unsubscribe")(with_token(confirm))
    pages.post("/unsubscribe")(with_token(unsubscribe))
    pages.post("/resubscribe")(with_token(resubscribe))

    @pages.get("/healthz")
    def health() -> Response:
        return Response("ok\n", mimetype="text/plain")

    app.register_blueprint(pages)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        response = page("error", code, exc.name, reason=exc.description or exc.name, advice=_ADVICE)
        if code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        event("web_error", logging.ERROR, exc_info=True, path=request.path)
        return page(
            "error",
            500,
            "Something went wrong",
            reason="Your request could not be completed because of a problem on our side.",
            advice="Please try again in a few minutes.",
        )

    @app.after_request
    def safety_headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return response

    return app
