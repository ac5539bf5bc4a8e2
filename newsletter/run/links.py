"""Every link a message carries into the web app, built in one place and quoted correctly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from newsletter.records import DigestLinks
from newsletter.tokens import make_token


def web_link(base_url: str, path: str, **query: str) -> str:
    """``base_url`` joined with ``path`` (no leading slash) and a quoted query string.

    ``base_url`` is where ``serve`` answers (``https://example.org/news``), with or without
    a trailing slash; the result is absolute.
    """
    link = f"{base_url.rstrip('/')}/{quote(path.lstrip('/'), safe='/')}"
    if query:
        link += "?" + urlencode(query, quote_via=quote, safe="")
    return link


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

    def for_digest(self, email: str) -> DigestLinks:
        return DigestLinks(unsubscribe_url=self.unsubscribe(email))
