"""Every link a message carries into the web app, built in one place and quoted correctly."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from newsletter.records import DigestLinks
from newsletter.tokens import make_token

VIEW_TOKEN_BYTES = 20
"""160 random bits per archived digest: a link nobody can guess or enumerate."""


def web_link(base_url: str, path: str, **query: str) -> str:
    """``base_url`` joined with ``path`` (no leading slash) and a quoted query string.

    ``base_url`` is where ``serve`` answers (``https://example.org/news``), with or without
    a trailing slash; the result is absolute.
    """
    link = f"{base_url.rstrip('/')}/{quote(path.lstrip('/'), safe='/')}"
    if query:
        link += "?" + urlencode(query, quote_via=quote, safe="")
    return link


def new_view_token() -> str:
    """A fresh token for one archived digest (URL-safe, no padding)."""
    return secrets.token_urlsafe(VIEW_TOKEN_BYTES)


@dataclass(frozen=True)
class Links:
    """The links of one run: tokens signed with the run's secret, issued at the run's time."""

    base_url: str
    secret: str
    now: datetime

    def token(self, email: str) -> str:
        return make_token(email, self.secret, now=self.now)

    def unsubscribe(self, email: str) -> str:
        """Answered by ``serve``: a GET confirms, a POST unsubscribes (RFC 8058 one-click)."""
        return web_link(self.base_url, "unsubscribe", token=self.token(email))

    def manage(self, email: str) -> str:
        """The subscriber's own page: topics, schedule, pause, unsubscribe. It lasts as long
        as the secret (like the unsubscribe link, it must work from an old digest)."""
        token = make_token(email, self.secret, now=self.now, purpose="manage")
        return web_link(self.base_url, "manage", token=token)

    def confirm(self, email: str) -> str:
        """The link in a confirmation mail; the web app honours it for ``confirm_hours``."""
        token = make_token(email, self.secret, now=self.now, purpose="confirm")
        return web_link(self.base_url, "confirm", token=token)

    def view(self, view_token: str) -> str:
        """The archived copy of one digest ("View in browser", ``Archived-At``)."""
        return web_link(self.base_url, f"d/{view_token}")

    def all_matches(self, view_token: str) -> str:
        """Every match of a digest that was cut ("and N more matches")."""
        return web_link(self.base_url, f"d/{view_token}/all")

    def for_digest(self, email: str, view_token: str | None = None) -> DigestLinks:
        """The subscriber's links; with ``view_token``, the archive's too."""
        manage = self.manage(email)
        if view_token is None:
            return DigestLinks(unsubscribe_url=self.unsubscribe(email), manage_url=manage)
        return DigestLinks(
            unsubscribe_url=self.unsubscribe(email),
            manage_url=manage,
            view_url=self.view(view_token),
            all_url=self.all_matches(view_token),
        )
