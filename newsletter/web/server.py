"""Run the web app on waitress, a production WSGI server (threaded, pure Python, proxy-friendly)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import waitress
from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)

WSGIApp = Any
"""A WSGI callable (Flask app); waitress is typed loosely, so this is too."""


def clears_proxy_headers(app: WSGIApp) -> bool:
    """Waitress drops the ``X-Forwarded-*`` headers of proxies it was not told about. When
    the app trusts its proxies itself (``trusted_proxies``: werkzeug's ProxyFix, which
    believes exactly that many hops), waitress must hand the headers on."""
    config = getattr(app, "config", None)
    trusted = config.get("TRUSTED_PROXIES", 0) if isinstance(config, Mapping) else 0
    return not trusted


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = 8080, *, threads: int = 4) -> None:
    """Serve until interrupted. Bind to 127.0.0.1 and put a TLS reverse proxy in front."""
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="newsletter",
        clear_untrusted_proxy_headers=clears_proxy_headers(app),
    )


@contextmanager
def running(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the app on a background thread for the duration of a ``with``; yield its base URL.

    Port 0 picks a free port. Used by tests and by anything that embeds the app.
    """
    # The typeshed stubs lag waitress here (create_server, effective_port, trigger), hence Any.
    server: Any = create_server(
        app,
        host=host,
        port=port,
        threads=2,
        ident="newsletter",
        clear_untrusted_proxy_headers=clears_proxy_headers(app),
    )
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.effective_port}"
    finally:
        # Close every socket from inside the server's own loop (no cross-thread races),
        # which empties its map and so ends run().
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
