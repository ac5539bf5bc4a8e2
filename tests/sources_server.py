"""A real HTTP(S) server on loopback for the sources tests: serves feeds, records requests.

Each route answers with a ``Reply``; conditional GET (ETag / Last-Modified) is
honoured like a real server would, and misbehaving servers (slow drip, endless
body, no answer at all) are available, each bounded in time so nothing outlives
the test. It listens on 127.0.0.1 by default, or ``::1``, and speaks TLS when given
a server ``ssl.SSLContext``.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_MISBEHAVE_SECONDS = 10.0


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    mode: str = "normal"
    """``normal``, ``drip`` (one byte per 0.1 s), ``endless`` (64 KB chunks), ``hang``,
    ``short`` (promises the body's length, sends half, hangs up) or ``hang-up`` (a whole
    answer, then the connection closed without saying so, as an idle timeout does)."""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    client_port: int = 0
    """The client's source port: the same port twice means a reused connection."""


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class FeedServer:
    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.scheme = "https" if tls else "http"
        self.routes: dict[str, Reply | Callable[[], Reply]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        Seen(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            int(self.client_address[1]),
                        )
                    )
                route = server.routes.get(self.path)
                if route is None:
                    self._send(Reply(404, b"not found"))
                    return
                self._send(route() if callable(route) else route)

            def _send(self, reply: Reply) -> None:
                if reply.mode == "hang":
                    server._stop.wait(MAX_MISBEHAVE_SECONDS)
                    return
                conditional = (
                    reply.etag is not None and self.headers.get("If-None-Match") == reply.etag
                ) or (
                    reply.last_modified is not None
                    and self.headers.get("If-Modified-Since") == reply.last_modified
                )
                status = 304 if conditional and reply.status == 200 else reply.status
                self.send_response(status)
                headers = dict(reply.headers)
                if reply.etag:
                    headers.setdefault("ETag", reply.etag)
                if reply.last_modified:
                    headers.setdefault("Last-Modified", reply.last_modified)
                body = b"" if status == 304 else reply.body
                if reply.mode in ("normal", "short", "hang-up"):
                    headers["Content-Length"] = str(len(body))
                else:
                    headers["Connection"] = "close"
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    if reply.mode == "normal":
                        self.wfile.write(body)
                    elif reply.mode == "hang-up":
                        self.wfile.write(body)
                        self.close_connection = True
                    elif reply.mode == "short":
                        self.wfile.write(body[: len(body) // 2])
                        self.close_connection = True
                    elif reply.mode == "drip":
                        self._drip()
                    elif reply.mode == "endless":
                        self._endless()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _drip(self) -> None:
                end = time.monotonic() + MAX_MISBEHAVE_SECONDS
                self.wfile.write(b"<?xml version='1.0'?><rss><channel>")
                while time.monotonic() < end and not server._stop.wait(0.1):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                self.close_connection = True

            def _endless(self) -> None:
                chunk = b"<item><title>x</title></item>" * 2000
                end = time.monotonic() + MAX_MISBEHAVE_SECONDS
                self.wfile.write(b"<?xml version='1.0'?><rss><channel>")
                while time.monotonic() < end and not server._stop.is_set():
                    self.wfile.write(chunk)
                self.close_connection = True

        class QuietServer(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients hanging up on purpose (size caps, timeouts) are expected

            def get_request(self) -> tuple[socket.socket, object]:
                conn, address = super().get_request()
                if tls is None:
                    return conn, address
                conn.settimeout(MAX_MISBEHAVE_SECONDS)  # a client that never shakes hands
                try:
                    return tls.wrap_socket(conn, server_side=True), address
                except (ssl.SSLError, OSError):
                    conn.close()
                    raise

        self._httpd = QuietServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str, host: str | None = None) -> str:
        """This server's URL for ``path``; ``host`` replaces its address (a name, say)."""
        name = host or self.host
        name = f"[{name}]" if ":" in name else name
        return f"{self.scheme}://{name}:{self.port}{path}"

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.requests if seen.path == path]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def serve() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


class Clock:
    """An injectable clock the tests move by hand (no sleeping)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
