"""Unsubscribe pages: confirmation on GET, RFC 8058 one-click on POST, resubscribe.

Rules they keep, and why:
- A GET never changes anything: mail scanners and link previews follow every link.
- POST ``/unsubscribe?token=…`` unsubscribes with no cookie, form or session, answers
  200 (never a redirect, which mailbox providers do not follow) and is idempotent.
- The token is the only credential; it names the address, so nobody can unsubscribe
  someone else by editing a URL.
- Pages are not cached (the app's default), not framed, and send no Referer (the token
  sits in the URL).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import Blueprint, Response, request

from newsletter import logs
from newsletter.records import SuppressionReason
from newsletter.store.protocols import SuppressionStore
from newsletter.tokens import BadToken, read_token
from newsletter.web.pages import render

event = logs.events(__name__)

REASON_UNSUBSCRIBE = SuppressionReason.UNSUBSCRIBE

ADVICE = (
    "To stop the mail, use the unsubscribe link in your most recent digest, or reply to it and ask."
)


def blueprint(
    *,
    secret: str,
    suppressions: SuppressionStore,
    prefix: str,
    title: str,
    now: Callable[[], datetime],
    max_age: timedelta | None = None,
) -> Blueprint:
    """``/unsubscribe`` (GET, POST) and ``/resubscribe`` (POST) under ``prefix``."""
    pages = Blueprint("unsubscribe", __name__)

    def page(name: str, status: int, heading: str, **context: object) -> Response:
        html = render(name, heading=heading, title=title, **context)
        return Response(html, status=status, mimetype="text/html")

    def bad_request(reason: str) -> Response:
        return page("error", 400, "This link does not work", reason=reason, advice=ADVICE)

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
        # Lifts the person's own unsubscribe; a complaint or a bounce is not undone by a link
        # from an old digest (an admin's `subscribers reactivate` is for those).
        if suppressions.unsuppress(email, {REASON_UNSUBSCRIBE}) is not None:
            event("resubscribed", email=email)
        elif suppressions.is_suppressed(email):
            return page(
                "error",
                409,
                "Mail to this address stays stopped",
                reason=f"Mail to {email} bounced or was reported as spam, so it was stopped.",
                advice="Ask the newsletter's administrator to reactivate the address.",
            )
        return page("resubscribed", 200, "You are subscribed again", email=email, **urls(token))

    pages.get("/unsubscribe")(with_token(confirm))
    pages.post("/unsubscribe")(with_token(unsubscribe))
    pages.post("/resubscribe")(with_token(resubscribe))
    return pages
