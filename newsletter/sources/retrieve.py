"""Download one feed politely and safely: conditional GET, size cap, bounded time.

Redirects are followed by hand so that a permanent one can update the stored URL, and
one to a non-http(s) scheme, from https to http, or to a private address is refused
(the address check itself happens at connect time, in ``guard``). Bodies are
decompressed here, not by the HTTP library, so the size cap applies to the decompressed
bytes with a bounded output per step (a gzip bomb stops at the cap instead of inflating
in one go).
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import stat
import zlib
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import httpcore
import httpx

import newsletter
from newsletter.sources.guard import Connections, Origin, RefusedAddress

USER_AGENT = f"newsletter/{newsletter.__version__} (+{newsletter.PROJECT_URL})"
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
)
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}


class FetchError(Exception):
    """Why one feed could not be downloaded, in words for the operator."""


@dataclass(frozen=True)
class Download:
    status: int
    url: str
    """The URL finally answered."""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-cased response headers."""
    moved_to: str | None = None
    """The new URL to remember after permanent redirects (301/308) only."""
    reason: str = ""


def is_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def local_path(url: str) -> str | None:
    """The filesystem path of a ``file://`` URL or plain path; None for other schemes."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return url2pathname(parts.path)
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        return url
    return None


def mb(size: int) -> str:
    return f"{size / 1_000_000:g} MB"


class _Decoder:
    """Content-Encoding decoder whose output per step never exceeds what is left."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
            self._deflate_first = True
        else:
            raise FetchError(f"the server used an unsupported Content-Encoding {encoding!r}")
        self.total = 0

    def feed(self, data: bytes, limit: int) -> bytes:
        if self._zlib is None:
            self.total += len(data)
            if self.total > limit:
                raise FetchError(f"the response is larger than the {mb(limit)} limit")
            return data
        out = bytearray()
        try:
            while data:
                room = limit - self.total
                piece = self._zlib.decompress(data, room + 1)
                self.total += len(piece)
                if self.total > limit:
                    raise FetchError(
                        f"the response is larger than the {mb(limit)} limit once decompressed"
                    )
                out += piece
                data = self._zlib.unconsumed_tail
                if not piece and data:  # pragma: no cover - zlib made no progress
                    break
        except zlib.error as exc:
            if getattr(self, "_deflate_first", False) and self.total == 0:
                # Some servers send raw deflate without the zlib header.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._deflate_first = False
                return self.feed(data, limit)
            raise FetchError(f"the compressed response is corrupt ({exc})") from None
        self._deflate_first = False
        return bytes(out)


async def download(
    connections: Connections,
    url: str,
    *,
    configured: Origin | None,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    timeout: float,
) -> Download:
    """GET ``url`` (following up to five redirects) within ``timeout`` seconds in total.

    ``configured`` is the origin the admin wrote for this feed: the one place it may
    reach even at a private address (see ``guard``).
    """
    headers = [
        (b"User-Agent", USER_AGENT.encode()),
        (b"Accept", ACCEPT.encode()),
        (b"Accept-Encoding", b"gzip, deflate"),
    ]
    for name, value in ((b"If-None-Match", etag), (b"If-Modified-Since", last_modified)):
        if value:
            headers.append((name, value.encode("latin-1", "replace")))
    # Generous per-step limits; the whole-download deadline is the asyncio.timeout.
    steps = {"connect": min(timeout, 10.0), "read": timeout, "write": timeout, "pool": timeout}
    try:
        async with asyncio.timeout(timeout):
            return await _download(
                connections, url, configured, headers, {"timeout": steps}, max_bytes
            )
    except (TimeoutError, httpcore.TimeoutException):
        raise FetchError(f"no complete answer within {timeout:g} s (timed out)") from None
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}") from None
    except _TRANSPORT_ERRORS as exc:
        raise FetchError(
            f"could not download ({type(exc).__name__}: {exc or 'no detail'})"
        ) from None


STALE_RETRIES = 1
"""Times a GET that got no answer at all is sent again (see ``_download``)."""

_TRANSPORT_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


def _request_url(parsed: httpx.URL) -> httpcore.URL:
    """A URL parsed by httpx (IDNA, percent-encoding) as httpcore wants it."""
    return httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )


async def _download(
    connections: Connections,
    url: str,
    configured: Origin | None,
    headers: list[tuple[bytes, bytes]],
    extensions: dict[str, object],
    max_bytes: int,
) -> Download:
    moved_to: str | None = None
    all_permanent = True
    for hop in range(MAX_REDIRECTS + 1):
        parsed = httpx.URL(url)
        pool = connections.pool_for(parsed, configured)
        async with contextlib.AsyncExitStack() as stack:
            for attempt in range(STALE_RETRIES + 1):
                try:
                    response = await stack.enter_async_context(
                        pool.stream(
                            "GET", _request_url(parsed), headers=headers, extensions=extensions
                        )
                    )
                    break
                except RefusedAddress as exc:
                    raise FetchError(_refused(exc, url, redirected=hop > 0)) from None
                except httpcore.RemoteProtocolError:
                    # A kept-alive connection the server closed as we reused it ends with no
                    # answer at all; a GET is safe to send again, on a fresh connection (the
                    # dead one has left the pool). Browsers and urllib3 do the same.
                    if attempt == STALE_RETRIES:
                        raise
            answer_headers = _headers(response.headers)
            location = answer_headers.get("location")
            if response.status in _REDIRECTS and location is not None:
                try:
                    target = urljoin(url, location.strip())
                    secure_to_plain = _scheme(url) == "https" and _scheme(target) == "http"
                except ValueError:  # e.g. an unclosed [ in the host
                    raise FetchError(
                        f"refused a redirect to an invalid URL: {location[:200]!r}"
                    ) from None
                if not is_http(target):
                    raise FetchError(f"refused a redirect to a non-http(s) URL: {target[:200]}")
                if secure_to_plain:
                    raise FetchError(f"redirect from https to http refused: {target[:200]}")
                all_permanent = all_permanent and response.status in _PERMANENT
                if all_permanent:
                    moved_to = target
                url = target
                await _discard(response)
                continue
            body = b""
            if 200 <= response.status < 300:
                body = await _read_body(response, answer_headers, max_bytes)
            else:
                await _discard(response)
            reason = response.extensions.get("reason_phrase", b"")
            return Download(
                status=response.status,
                url=url,
                body=body,
                headers=answer_headers,
                moved_to=moved_to,
                reason=reason.decode("latin-1") if isinstance(reason, bytes) else "",
            )
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined with ", " (RFC 9110 5.3)."""
    merged: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        merged[key] = f"{merged[key]}, {text}" if key in merged else text
    return merged


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def _refused(exc: RefusedAddress, url: str, *, redirected: bool) -> str:
    """The operator's message for a connection the guard refused."""
    where = (
        f"{exc.host} is {exc.address} ({exc.reason})"
        if exc.host != exc.address
        else (f"{exc.address} is {exc.reason}")
    )
    if redirected:
        return f"redirect to a private address refused: {url[:200]} ({where})"
    return (
        f"refused to connect to a private address: {where}; only the URL in the config may "
        "point there (or set fetch_private_addresses: true)"
    )


async def _discard(response: httpcore.Response, limit: int = 65_536) -> None:
    """Read and drop a short body (a 304's is empty) so the connection can be reused;
    a longer one is left unread and its connection closed."""
    seen = 0
    async for chunk in response.aiter_stream():
        seen += len(chunk)
        if seen > limit:
            return


async def _read_body(response: httpcore.Response, headers: dict[str, str], max_bytes: int) -> bytes:
    encoding = headers.get("content-encoding", "")
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(f"the response is larger than the {mb(max_bytes)} limit ({length} bytes)")
    decoder = _Decoder(encoding)
    chunks: list[bytes] = []
    async for raw in response.aiter_stream():
        chunks.append(decoder.feed(raw, max_bytes))
    return b"".join(chunks)


def read_file(path: str, *, last_modified: str | None, max_bytes: int) -> Download:
    """A local feed file, treated like an HTTP answer (its mtime acts as Last-Modified)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise FetchError(f"{path} is not a regular file")
        stamp = formatdate(info.st_mtime, usegmt=True)
        if last_modified == stamp:
            return Download(status=304, url=path, headers={"last-modified": stamp})
        if info.st_size > max_bytes:
            raise FetchError(f"{path} is larger than the {mb(max_bytes)} limit")
        with open(path, "rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise FetchError(f"no such file: {path}") from None
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > max_bytes:
        raise FetchError(f"{path} is larger than the {mb(max_bytes)} limit")
    content_type = mimetypes.guess_type(path)[0] or ""
    if path.endswith((".rss", ".atom")):
        content_type = "application/xml"
    headers = {"last-modified": stamp}
    if content_type:
        headers["content-type"] = content_type
    return Download(status=200, url=path, body=body, headers=headers)
