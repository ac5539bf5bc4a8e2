"""Connections a feed download may make: the SSRF guard, checked at connect time.

A check on the URL before the request would be too early: the name can resolve to a
private address, or resolve differently a moment later (DNS rebinding). So the check
sits where the socket is opened: the host is resolved once, every address it resolves
to is checked (one private answer refuses the host), and the connection goes to a
checked address, never to the name again. TLS still verifies the certificate for the
name (SNI and Host come from the URL, not from the address).

Each feed may reach the exact origin the admin configured for it, whatever it resolves
to; everything else (a redirect, a URL moved by a 301) must be public. The two kinds
of connection live in separate pools, so a connection opened under one feed's
exception is never reused for another feed's redirect.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ipaddress import ip_address
from types import TracebackType
from typing import Any

import httpcore
import httpx

from newsletter.sources.addresses import refusal
from newsletter.sources.streams import AsyncioBackend

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses``: how names become IP addresses (inject one in tests)."""

Origin = tuple[str, str, int]
"""(scheme, host, port), as browsers compare them; the port is explicit."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedAddress(Exception):
    """A connection the guard refused: ``host`` resolved to ``address``, which is ``reason``."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"{host} is {address}, {reason}" if host != address else address)
        self.host = host
        self.address = address
        self.reason = reason


def origin(url: str | httpx.URL) -> Origin | None:
    """The origin of an http(s) URL; None for anything else or an unparsable URL."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except httpx.InvalidURL:
        return None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parsed.raw_host:
        return None
    host = parsed.raw_host.decode("ascii").lower()
    return scheme, host, parsed.port or _DEFAULT_PORTS[scheme]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system gives for ``host`` (getaddrinfo), in its order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, refuses private answers (when ``check``), connects to the address."""

    def __init__(
        self,
        *,
        check: bool,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.check = check
        self.resolver = resolver
        self.inner = inner or AsyncioBackend()

    async def addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` stands for (an IP literal stands for itself)."""
        try:
            return [str(ip_address(host))]
        except ValueError:
            pass
        found = list(await self.resolver(host, port))
        if not found:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        found = await self.addresses(host, port)
        if self.check:
            for address in found:
                reason = refusal(address)
                if reason is not None:
                    raise RefusedAddress(host, address, reason)
        failure: Exception | None = None
        for address in found:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("feeds are never fetched over a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def tls_context() -> ssl.SSLContext:
    """The client TLS context (certifi's CAs, or $SSL_CERT_FILE / $SSL_CERT_DIR), made once
    per process and CA setting: loading the CA bundle takes 50-100 ms, more than a
    whole round of 304s."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _tls_lock:
        context = _tls_contexts.get(key)
        if context is None:
            context = _tls_contexts[key] = httpx.create_ssl_context()
        return context


_tls_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_tls_lock = threading.Lock()


class Connections:
    """The two connection pools of one fetch run and which one a URL goes through.

    ``trusted`` connects anywhere and only ever carries requests to the origin the
    requesting feed was configured with; ``checked`` refuses private addresses (unless
    ``allow_private``) and carries everything else. They are httpcore pools, used
    directly: httpx's client layer (cookies, auth, redirects, URL joining) is either
    unwanted here or done by hand, and it cost more CPU per request than the request.
    """

    def __init__(
        self, *, allow_private: bool, resolver: Resolver | None, max_connections: int
    ) -> None:
        context = tls_context()
        resolve = resolver or system_resolver

        def pool(check: bool) -> httpcore.AsyncConnectionPool:
            return httpcore.AsyncConnectionPool(
                ssl_context=context,
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                network_backend=GuardedBackend(check=check, resolver=resolve),
            )

        self.trusted = pool(check=False)
        self.checked = self.trusted if allow_private else pool(check=True)

    def pool_for(
        self, url: str | httpx.URL, configured: Origin | None
    ) -> httpcore.AsyncConnectionPool:
        """The pool for ``url`` on behalf of a feed configured at origin ``configured``."""
        if configured is not None and origin(url) == configured:
            return self.trusted
        return self.checked

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.trusted.aclose()
        if self.checked is not self.trusted:
            await self.checked.aclose()
