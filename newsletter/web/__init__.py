"""The web app: unsubscribe pages, the day's papers, search, archived digests, Atom out.

Flask pages served by waitress. A face like the CLI: it reads through the store and writes
only suppressions (and, later, the outbox); it never sends mail by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from newsletter.web.app import Suppressions, create_app
from newsletter.web.server import running, serve
from newsletter.web.site import Site

if TYPE_CHECKING:
    from newsletter.app import App

__all__ = [
    "Site",
    "Suppressions",
    "create_app",
    "running",
    "serve",
    "serve_app",
    "site_for",
    "web_app",
]


def site_for(app: App) -> Site:
    """The public pages' view of this config and store."""
    from newsletter.run.plan import make_matcher

    store = app.store
    config = app.config
    return Site(
        store=store,
        now=app.clock,
        title=config.title,
        base_url=config.base_url,
        timezone=config.timezone,
        topics=config.topics,
        archive_days=config.archive_days,
        public_site=config.public_site,
        matcher=lambda topics: make_matcher(topics, store.vector_cache(), config),
    )


def web_app(app: App) -> object:
    """The WSGI app for this config, answering under the path of ``base_url``."""
    return create_app(
        secret=app.env.require_secret(),
        suppressions=app.store,
        base_path=urlparse(app.config.base_url).path or "/",
        title=app.config.title,
        now=app.clock,
        site=site_for(app),
        trusted_proxies=app.config.trusted_proxies,
    )


def serve_app(app: App, *, host: str, port: int) -> None:
    """Run the web app until interrupted (put an HTTPS reverse proxy in front)."""
    serve(web_app(app), host=host, port=port, trusted_proxies=app.config.trusted_proxies)
