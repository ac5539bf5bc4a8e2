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
from typing import Protocol
from urllib.parse import quote

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from newsletter.tokens import BadToken, read_token
from newsletter.web.pages import render

log = logging.getLogger(__name__)

REASON_UNSUBSCRIBE = "unsubscribe"

_ADVICE = (
    "To stop the mail, use the unsubscribe link in your most recent digest, or reply to it and ask."
)


class Suppressions(Protocol):
    """Where unsubscribed addresses are kept (the store's suppression table)."""

    def suppress(self, email: str, reason: str, at: datetime) -> None: ...

    def unsuppress(self, email: str) -> None: ...

    def is_suppressed(self, email: str) -> bool: ...


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

    def email_from(token: str | None) -> str:
        if not token:
            raise BadToken("This link is incomplete: it carries no token.")
        return read_token(token, secret, now=now(), max_age=max_age)

    @pages.get("/unsubscribe")
    def confirm() -> Response:
        token = request.args.get("token")
        try:
            email = email_from(token)
        except BadToken as exc:
            return bad_request(str(exc))
        assert token is not None
        if suppressions.is_suppressed(email):
            return page("already", 200, "Already unsubscribed", email=email, **urls(token))
        return page("confirm", 200, "Unsubscribe?", email=email, **urls(token))

    @pages.post("/unsubscribe")
    def unsubscribe() -> Response:
        token = request.args.get("token") or request.form.get("token")
        try:
            email = email_from(token)
        except BadToken as exc:
            return bad_request(str(exc))
        assert token is not None
        # Idempotent: a repeat keeps the original date ("suppressed since").
        if not suppressions.is_suppressed(email):
            suppressions.suppress(email, REASON_UNSUBSCRIBE, now())
            log.info("unsubscribed %s", email)
        return page("unsubscribed", 200, "You are unsubscribed", email=email, **urls(token))

    @pages.post("/resubscribe")
    def resubscribe() -> Response:
        token = request.form.get("token") or request.args.get("token")
        try:
            email = email_from(token)
        except BadToken as exc:
            return bad_request(str(exc))
        assert token is not None
        if suppressions.is_suppressed(email):
            suppressions.unsuppress(email)
            log.info("resubscribed %s", email)
        return page("resubscribed", 200, "You are subscribed again", email=email, **urls(token))

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
        log.exception("unsubscribe app failed")
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
