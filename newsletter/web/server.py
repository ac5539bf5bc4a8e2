"""Run the web app on waitress, a production WSGI server (threaded, pure Python, proxy-friendly)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import waitress
from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)

WSGIApp = Any
"""A WSGI callable (Flask app); waitress is typed loosely, so this is too."""


def proxy_options(trusted_proxies: int) -> dict[str, Any]:
    """waitress drops ``X-Forwarded-*`` headers unless told to keep them; behind trusted
    proxies the app's ProxyFix reads them (and takes only the last ``trusted_proxies``)."""
    return {"clear_untrusted_proxy_headers": False} if trusted_proxies else {}


def serve(
    app: WSGIApp,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    threads: int = 4,
    trusted_proxies: int = 0,
) -> None:
    """Serve until interrupted. Bind to 127.0.0.1 and put a TLS reverse proxy in front."""
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="newsletter",
        **proxy_options(trusted_proxies),
    )


@contextmanager
def running(
    app: WSGIApp, host: str = "127.0.0.1", port: int = 0, *, trusted_proxies: int = 0
) -> Iterator[str]:
    """Run the app on a background thread for the duration of a ``with``; yield its base URL.

    Port 0 picks a free port. Used by tests and by anything that embeds the app.
    """
    # The typeshed stubs lag waitress here (create_server, effective_port, trigger), hence Any.
    server: Any = create_server(
        app, host=host, port=port, threads=2, ident="newsletter", **proxy_options(trusted_proxies)
    )
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.effective_port}"
    finally:
        # Close every socket from inside the server's own loop (no cross-thread races),
        # which empties its map and so ends run().
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError:  # the wake-up pipe is gone (its loop ended): close from here
            wasyncore.close_all(server._map)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
