"""The SSRF guard against real servers on several loopback ports (and ::1, and TLS).

Every feed may reach the origin the admin configured for it, whatever it resolves
to; a redirect or a moved URL elsewhere must land on a public address. Names are
resolved by an injected resolver where a test needs a name to point somewhere.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpcore
import pytest
import trustme
from sources_server import Clock, FeedServer, Reply, has_ipv6_loopback, serve

from newsletter.sources import FeedSpec, FeedState, FetchOutcome, fetch_feeds
from newsletter.sources.guard import Connections, GuardedBackend, RefusedAddress

T0 = datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
RSS = "application/rss+xml"
PUBLIC = "93.184.216.34"  # a public address; no test ever connects to it


def rss(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{i}</link></item>"
        for i, t in enumerate(titles)
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel>{items}</channel></rss>".encode()


def feed(title: str) -> Reply:
    return Reply(body=rss(title), headers={"Content-Type": RSS})


@pytest.fixture
def home() -> Iterator[FeedServer]:
    """The server the feed is configured at."""
    yield from serve()


@pytest.fixture
def other() -> Iterator[FeedServer]:
    """Another local server, on another port: where a redirect should not get to."""
    yield from serve()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def names(mapping: dict[str, Sequence[str]]) -> Any:
    """A resolver that knows only ``mapping`` (and counts its calls)."""

    async def resolve(host: str, port: int) -> list[str]:
        resolve.calls.append(host)  # type: ignore[attr-defined]
        if host not in mapping:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        return list(mapping[host])

    resolve.calls = []  # type: ignore[attr-defined]
    return resolve


def fetch_one(
    spec: FeedSpec, clock: Clock, state: FeedState | None = None, **kwargs: Any
) -> FetchOutcome:
    [outcome] = fetch_feeds([(spec, state)], now=clock, **kwargs)
    return outcome


def assert_refused(outcome: FetchOutcome, spec: FeedSpec, *words: str) -> None:
    assert outcome.status == "error" and outcome.entries == ()
    for word in words:
        assert word in outcome.message, outcome.message
    assert outcome.state.url == spec.url  # a refused 301 never moves the stored URL
    assert outcome.state.consecutive_failures == 1


def test_the_configured_origin_may_be_private(home: FeedServer, clock: Clock) -> None:
    home.routes["/feed"] = feed("local")
    outcome = fetch_one(FeedSpec("f", home.url("/feed")), clock)
    assert outcome.status == "new" and [e.title for e in outcome.entries] == ["local"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_local_port_is_refused(
    home: FeedServer, other: FeedServer, clock: Clock, status: int
) -> None:
    home.routes["/feed"] = Reply(status, headers={"Location": other.url("/feed")})
    other.routes["/feed"] = feed("from the other port")
    spec = FeedSpec("f", home.url("/feed"))
    outcome = fetch_one(spec, clock)
    assert_refused(outcome, spec, "redirect to a private address refused", "loopback")
    assert other.requests == []


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:{port}/feed", "loopback"),
        ("http://localhost:{port}/feed", "loopback"),
        ("http://0.0.0.0:{port}/feed", "unspecified"),
        ("http://10.1.2.3/feed", "private (RFC 1918)"),
        ("http://192.168.0.10/feed", "private (RFC 1918)"),
        ("http://100.64.1.1/feed", "shared address space"),
        ("http://[fd00::1]/feed", "unique-local"),
        ("http://[fe80::1]/feed", "link-local"),
        ("http://[::ffff:127.0.0.1]:{port}/feed", "IPv4-mapped 127.0.0.1"),
        ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 169.254.169.254"),
        ("http://2130706433:{port}/feed", "loopback"),  # 127.0.0.1 written as a number
        ("https://127.0.0.1:{port}/feed", "loopback"),  # the same host, another origin
    ],
)
def test_a_permanent_redirect_to_a_private_address_is_refused_and_not_stored(
    home: FeedServer, other: FeedServer, clock: Clock, location: str, reason: str
) -> None:
    home.routes["/feed"] = Reply(301, headers={"Location": location.format(port=other.port)})
    spec = FeedSpec("f", home.url("/feed"))
    outcome = fetch_one(spec, clock, timeout=5.0)
    assert_refused(outcome, spec, "redirect to a private address refused", reason)
    assert "moved permanently" not in outcome.message
    assert other.requests == []


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "fd00::5"])
def test_a_name_that_resolves_to_a_private_address_is_refused(
    home: FeedServer, other: FeedServer, clock: Clock, address: str
) -> None:
    resolver = names({"evil.test": [address]})
    home.routes["/feed"] = Reply(302, headers={"Location": other.url("/feed", "evil.test")})
    other.routes["/feed"] = feed("should not be read")
    spec = FeedSpec("f", home.url("/feed"))
    outcome = fetch_one(spec, clock, resolver=resolver)
    assert_refused(
        outcome, spec, "redirect to a private address refused", f"evil.test is {address}"
    )
    assert other.requests == [] and resolver.calls == ["evil.test"]


def test_one_private_answer_among_public_ones_refuses_the_name(
    home: FeedServer, other: FeedServer, clock: Clock
) -> None:
    resolver = names({"mixed.test": [PUBLIC, "127.0.0.1"]})
    home.routes["/feed"] = Reply(302, headers={"Location": other.url("/feed", "mixed.test")})
    spec = FeedSpec("f", home.url("/feed"))
    outcome = fetch_one(spec, clock, resolver=resolver)
    assert_refused(outcome, spec, "mixed.test is 127.0.0.1 (loopback)")
    assert other.requests == []


def test_a_configured_name_is_allowed_whatever_it_resolves_to(
    home: FeedServer, clock: Clock
) -> None:
    # The connection goes to the resolver's answer: the system cannot resolve intranet.test.
    resolver = names({"intranet.test": ["127.0.0.1"]})
    home.routes["/feed"] = feed("intranet")
    outcome = fetch_one(FeedSpec("f", home.url("/feed", "intranet.test")), clock, resolver=resolver)
    assert outcome.status == "new" and outcome.entries[0].title == "intranet"
    assert home.requests[0].headers["host"] == f"intranet.test:{home.port}"


def test_a_stored_url_moved_to_another_origin_is_checked(
    home: FeedServer, other: FeedServer, clock: Clock
) -> None:
    # e.g. stored by a version without the guard: only the configured origin is exempt.
    other.routes["/feed"] = feed("elsewhere")
    spec = FeedSpec("f", home.url("/feed"))
    state = FeedState(url=other.url("/feed"))
    outcome = fetch_one(spec, clock, state)
    assert outcome.status == "error"
    assert outcome.message.startswith("refused to connect to a private address: 127.0.0.1")
    assert "fetch_private_addresses" in outcome.message
    assert outcome.state.url == other.url("/feed") and other.requests == []


def test_a_301_within_the_configured_origin_moves_the_url_and_stays_allowed(
    home: FeedServer, clock: Clock
) -> None:
    home.routes["/old"] = Reply(301, headers={"Location": "/new"})
    home.routes["/new"] = feed("moved")
    spec = FeedSpec("f", home.url("/old"))
    first = fetch_one(spec, clock)
    assert first.status == "new" and first.state.url == home.url("/new")
    again = fetch_one(spec, clock, first.state, force=True)
    assert again.status == "new" and again.entries[0].title == "moved"
    assert [seen.path for seen in home.requests] == ["/old", "/new", "/new"]


def test_a_connection_opened_for_one_feed_is_not_reused_for_another_feeds_redirect(
    home: FeedServer, other: FeedServer, clock: Clock
) -> None:
    # "own" is configured at the other server: its connection is kept alive in the pool.
    # "sly" redirects there afterwards and must still be refused.
    other.routes["/feed"] = feed("own")
    home.routes["/sly"] = Reply(302, headers={"Location": other.url("/feed")})
    own, sly = fetch_feeds(
        [(FeedSpec("own", other.url("/feed")), None), (FeedSpec("sly", home.url("/sly")), None)],
        now=clock,
        concurrency=1,
    )
    assert own.status == "new"
    assert sly.status == "error" and "redirect to a private address refused" in sly.message
    assert len(other.requests) == 1


def test_fetch_private_addresses_lifts_the_range_check(
    home: FeedServer, other: FeedServer, clock: Clock
) -> None:
    home.routes["/feed"] = Reply(301, headers={"Location": other.url("/feed")})
    other.routes["/feed"] = feed("intranet")
    outcome = fetch_one(FeedSpec("f", home.url("/feed")), clock, allow_private=True)
    assert outcome.status == "new" and outcome.entries[0].title == "intranet"
    assert outcome.state.url == other.url("/feed")


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_configured_works_and_redirected_is_refused(
    home: FeedServer, clock: Clock
) -> None:
    server = FeedServer(host="::1").start()
    try:
        server.routes["/feed"] = feed("over IPv6")
        direct = fetch_one(FeedSpec("v6", server.url("/feed")), clock)
        assert direct.status == "new" and direct.entries[0].title == "over IPv6"
        home.routes["/feed"] = Reply(302, headers={"Location": server.url("/feed")})
        spec = FeedSpec("f", home.url("/feed"))
        redirected = fetch_one(spec, clock)
        assert_refused(redirected, spec, "[::1]", "::1 is loopback")
        assert len(server.requests) == 1
    finally:
        server.stop()


# -- TLS: connect to the checked address, verify the certificate for the name ------------


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # as an operator with a private CA would
    return authority


def tls_server(ca: trustme.CA, name: str) -> FeedServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return FeedServer(tls=context).start()


def test_tls_verifies_the_name_while_connecting_to_the_resolved_address(
    ca: trustme.CA, clock: Clock
) -> None:
    good, wrong = tls_server(ca, "feeds.test"), tls_server(ca, "someone-else.test")
    try:
        good.routes["/feed"] = feed("secure")
        wrong.routes["/feed"] = feed("impostor")
        resolver = names({"feeds.test": ["127.0.0.1"]})
        ok, bad = fetch_feeds(
            [
                (FeedSpec("ok", good.url("/feed", "feeds.test")), None),
                (FeedSpec("bad", wrong.url("/feed", "feeds.test")), None),
            ],
            now=clock,
            resolver=resolver,
        )
        assert ok.status == "new" and ok.entries[0].title == "secure"
        assert good.requests[0].headers["host"] == f"feeds.test:{good.port}"
        assert bad.status == "error" and "certificate" in bad.message.lower()
        assert wrong.requests == []
    finally:
        good.stop()
        wrong.stop()


def test_a_redirect_from_https_to_http_is_refused_even_for_intranet_setups(
    ca: trustme.CA, other: FeedServer, clock: Clock
) -> None:
    secure = tls_server(ca, "feeds.test")
    try:
        secure.routes["/feed"] = Reply(301, headers={"Location": other.url("/feed")})
        other.routes["/feed"] = feed("downgraded")
        spec = FeedSpec("f", secure.url("/feed", "feeds.test"))
        outcome = fetch_one(
            spec, clock, resolver=names({"feeds.test": ["127.0.0.1"]}), allow_private=True
        )
        assert_refused(outcome, spec, "redirect from https to http refused")
        assert other.requests == [] and len(secure.requests) == 1
    finally:
        secure.stop()


# -- the backend itself: one resolution per connection, connect to what was checked ------


class Recorder(httpcore.AsyncMockBackend):
    """Records where it was asked to connect (no test may connect to a public address)."""

    def __init__(self) -> None:
        super().__init__(buffer=[])
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connected.append((host, port))
        return await super().connect_tcp(host, port, *args, **kwargs)


def test_each_connection_resolves_once_and_connects_to_the_checked_address() -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])  # DNS rebinding: public first, then loopback

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    inner = Recorder()
    backend = GuardedBackend(check=True, resolver=rebinding, inner=inner)

    async def scenario() -> str:
        await backend.connect_tcp("rebind.test", 443)
        try:
            await backend.connect_tcp("rebind.test", 443)
        except RefusedAddress as exc:
            return str(exc)
        return "connected"

    assert asyncio.run(scenario()) == "rebind.test is 127.0.0.1, loopback"
    assert inner.connected == [(PUBLIC, 443)]  # the address, never the name again


def test_the_configured_origin_goes_through_the_unchecked_pool_and_nothing_else() -> None:
    async def scenario() -> list[bool]:
        async with Connections(allow_private=False, resolver=None, max_connections=1) as pools:
            home = ("http", "127.0.0.1", 8000)
            urls = [
                "http://127.0.0.1:8000/feed",
                "HTTP://127.0.0.1:8000/other/path",
                "http://127.0.0.1/feed",  # port 80: another origin
                "https://127.0.0.1:8000/feed",  # another scheme
                "http://localhost:8000/feed",  # another host, even if the same machine
                "https://public.example/moved",
            ]
            return [pools.pool_for(u, home) is pools.trusted for u in urls]

    assert asyncio.run(scenario()) == [True, True, False, False, False, False]
