"""The web app behind the links in every digest: Flask pages served by waitress.

A face like the CLI: it reads through the store and writes only suppressions (and, later,
the outbox); it never sends mail by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from newsletter.web.app import Suppressions, create_app
from newsletter.web.server import running, serve

if TYPE_CHECKING:
    from newsletter.app import App

__all__ = ["Suppressions", "create_app", "running", "serve", "serve_app", "web_app"]


def web_app(app: App) -> object:
    """The WSGI app for this config, answering under the path of ``base_url``."""
    return create_app(
        secret=app.env.require_secret(),
        suppressions=app.store,
        base_path=urlparse(app.config.base_url).path or "/",
        title=app.config.title,
        now=app.clock,
    )


def serve_app(app: App, *, host: str, port: int) -> None:
    """Run the web app until interrupted (put an HTTPS reverse proxy in front)."""
    serve(web_app(app), host=host, port=port)
