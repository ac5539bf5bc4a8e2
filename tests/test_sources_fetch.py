"""fetch_feeds against a real HTTP server on 127.0.0.1: caching, politeness, failures."""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sources_server import Clock, FeedServer, Reply, serve

import newsletter
from newsletter.sources import FeedSpec, FeedState, FetchOutcome, fetch_feeds, health
from newsletter.sources.fetch import PER_HOST
from newsletter.sources.politeness import BACKOFF_BASE, BACKOFF_CAP

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
T0 = datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
RSS = "application/rss+xml"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    yield from serve()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rss(*titles: str, author: str = "") -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{i}</link>"
        f"{f'<author>{author}</author>' if author else ''}</item>"
        for i, t in enumerate(titles)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>{items}</channel></rss>"
    ).encode()


def fetch_one(
    spec: FeedSpec, state: FeedState | None, clock: Clock, **kwargs: object
) -> FetchOutcome:
    [outcome] = fetch_feeds([(spec, state)], now=clock, **kwargs)  # type: ignore[arg-type]
    return outcome


def test_conditional_get_gives_304_and_no_entries(server: FeedServer, clock: Clock) -> None:
    server.routes["/cl"] = Reply(
        body=fixture("arxiv-cs.CL.rss"),
        headers={"Content-Type": RSS},
        etag='"v1"',
        last_modified="Mon, 11 Mar 2024 04:00:00 GMT",
    )
    spec = FeedSpec("cs.CL", server.url("/cl"), "arxiv")
    first = fetch_one(spec, None, clock)
    assert first.status == "new", first.message
    assert [e.key for e in first.entries] == ["arxiv:2403.05001", "arxiv:2403.05002"]
    assert first.state.etag == '"v1"'
    assert first.state.last_modified == "Mon, 11 Mar 2024 04:00:00 GMT"
    assert first.state.last_success == T0 and first.state.last_entry_count == 2

    clock.advance(timedelta(hours=1))
    second = fetch_one(spec, first.state, clock)
    assert second.status == "not_modified"
    assert second.entries == ()
    assert second.state.etag == '"v1"' and second.state.last_success == T0 + timedelta(hours=1)
    assert health(second.state) == "quiet (no new entries)"

    one, two = server.hits("/cl")
    assert "if-none-match" not in one.headers
    assert two.headers["if-none-match"] == '"v1"'
    assert two.headers["if-modified-since"] == "Mon, 11 Mar 2024 04:00:00 GMT"
    assert newsletter.PROJECT_URL in one.headers["user-agent"]
    assert "gzip" in one.headers["accept-encoding"]


def test_gzip_body_is_decoded(server: FeedServer, clock: Clock) -> None:
    server.routes["/gz"] = Reply(
        body=gzip.compress(rss("one", "two")),
        headers={"Content-Type": RSS, "Content-Encoding": "gzip"},
    )
    outcome = fetch_one(FeedSpec("gz", server.url("/gz")), None, clock)
    assert outcome.status == "new", outcome.message
    assert [e.title for e in outcome.entries] == ["one", "two"]


def test_retry_after_on_429_is_honoured_with_an_injected_clock(
    server: FeedServer, clock: Clock
) -> None:
    server.routes["/busy"] = Reply(429, b"slow down", headers={"Retry-After": "7200"})
    spec = FeedSpec("busy", server.url("/busy"))
    first = fetch_one(spec, None, clock)
    assert first.status == "error" and "429" in first.message
    assert first.state.next_fetch_after == T0 + timedelta(seconds=7200)
    assert first.state.consecutive_failures == 1

    clock.advance(timedelta(minutes=119))
    early = fetch_one(spec, first.state, clock)
    assert early.status == "skipped" and "not due until" in early.message
    assert len(server.hits("/busy")) == 1  # no request was made

    forced = fetch_one(spec, first.state, clock, force=True)
    assert forced.status == "error" and len(server.hits("/busy")) == 2

    clock.advance(timedelta(minutes=2))
    server.routes["/busy"] = Reply(body=rss("back"), headers={"Content-Type": RSS})
    due = fetch_one(spec, first.state, clock)
    assert due.status == "new" and due.state.consecutive_failures == 0
    assert due.state.next_fetch_after is None and due.state.failing_since is None


def test_retry_after_http_date_on_503(server: FeedServer, clock: Clock) -> None:
    server.routes["/down"] = Reply(503, headers={"Retry-After": "Mon, 11 Mar 2024 18:00:00 GMT"})
    outcome = fetch_one(FeedSpec("down", server.url("/down")), None, clock)
    assert outcome.status == "error"
    assert outcome.state.next_fetch_after == datetime(2024, 3, 11, 18, 0, tzinfo=UTC)


def test_backoff_doubles_per_failure_up_to_a_cap_and_health_flags_after_three(
    server: FeedServer, clock: Clock
) -> None:
    server.routes["/broken"] = Reply(500, b"oops")
    spec = FeedSpec("broken", server.url("/broken"))
    state: FeedState | None = None
    delays = []
    for attempt in range(1, 11):
        outcome = fetch_one(spec, state, clock)
        state = outcome.state
        assert outcome.status == "error" and "HTTP 500" in outcome.message
        assert state.consecutive_failures == attempt and state.next_fetch_after is not None
        delays.append(state.next_fetch_after - clock.now)
        if attempt < 3:  # not flagged yet: a failure has to persist
            assert not health(state).startswith("failing")
        clock.now = state.next_fetch_after  # due again exactly then
    assert delays[:4] == [BACKOFF_BASE * f for f in (1, 2, 4, 8)]
    assert delays[-1] == BACKOFF_CAP
    assert state is not None and state.failing_since == T0
    assert health(state).startswith("failing since 2024-03-11 12:00 UTC (10 failed")
    assert "HTTP 500" in health(state)
    assert len(server.hits("/broken")) == 10


def test_cache_control_max_age_delays_the_next_fetch(server: FeedServer, clock: Clock) -> None:
    server.routes["/cached"] = Reply(
        body=rss("a"), headers={"Content-Type": RSS, "Cache-Control": "public, max-age=1800"}
    )
    spec = FeedSpec("cached", server.url("/cached"))
    first = fetch_one(spec, None, clock)
    assert first.state.next_fetch_after == T0 + timedelta(minutes=30)
    clock.advance(timedelta(minutes=10))
    assert fetch_one(spec, first.state, clock).status == "skipped"
    clock.advance(timedelta(minutes=21))
    assert fetch_one(spec, first.state, clock).status == "new"


def test_permanent_redirect_updates_the_url_and_temporary_does_not(
    server: FeedServer, clock: Clock
) -> None:
    server.routes["/old"] = Reply(301, headers={"Location": "/new"})
    server.routes["/new"] = Reply(body=rss("moved"), headers={"Content-Type": RSS})
    server.routes["/tmp"] = Reply(302, headers={"Location": server.url("/new")})
    moved = fetch_one(FeedSpec("m", server.url("/old")), None, clock)
    assert moved.status == "new" and moved.state.url == server.url("/new")
    assert "moved permanently" in moved.message
    temp = fetch_one(FeedSpec("t", server.url("/tmp")), None, clock)
    assert temp.status == "new" and temp.state.url == server.url("/tmp")


def test_304_redirect_and_error_answers_leave_the_connection_reusable(
    server: FeedServer, clock: Clock
) -> None:
    server.routes["/same"] = Reply(body=rss("a"), etag='"e"', headers={"Content-Type": RSS})
    server.routes["/hop"] = Reply(302, b"see /same", headers={"Location": "/same"})
    server.routes["/broken"] = Reply(500, b"oops")
    specs = [FeedSpec(n, server.url(f"/{n}")) for n in ("same", "hop", "broken")]
    state = FeedState(url=server.url("/same"), etag='"e"')
    outcomes = fetch_feeds(
        [(specs[0], state), (specs[1], None), (specs[2], None)], now=clock, concurrency=1
    )
    assert [o.status for o in outcomes] == ["not_modified", "new", "error"]
    assert len({seen.client_port for seen in server.requests}) == 1  # one connection for all


def test_a_kept_alive_connection_the_server_closed_is_not_reused(
    server: FeedServer, clock: Clock
) -> None:
    server.routes["/first"] = Reply(body=rss("a"), headers={"Content-Type": RSS}, mode="hang-up")
    server.routes["/second"] = Reply(body=rss("b"), headers={"Content-Type": RSS})
    first, second = fetch_feeds(
        [(FeedSpec(n, server.url(f"/{n}")), None) for n in ("first", "second")],
        now=clock,
        concurrency=1,
    )
    assert first.status == second.status == "new", second.message
    assert len({seen.client_port for seen in server.requests}) == 2


def test_at_most_two_downloads_at_once_from_one_host(server: FeedServer, clock: Clock) -> None:
    changed = threading.Condition()
    in_flight, most = [0], [0]

    def held() -> Reply:
        with changed:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            changed.notify_all()
            # Give a third download from this host the chance to arrive: it must not.
            changed.wait_for(lambda: in_flight[0] > PER_HOST, timeout=0.3)
            in_flight[0] -= 1
        return Reply(body=rss("held"), headers={"Content-Type": RSS})

    for i in range(6):
        server.routes[f"/h{i}"] = held
    outcomes = fetch_feeds(
        [(FeedSpec(f"h{i}", server.url(f"/h{i}")), None) for i in range(6)], now=clock
    )
    assert [o.status for o in outcomes] == ["new"] * 6
    assert most[0] == PER_HOST == 2


def test_410_disables_the_feed_until_forced(server: FeedServer, clock: Clock) -> None:
    server.routes["/gone"] = Reply(410, b"gone")
    spec = FeedSpec("gone", server.url("/gone"))
    outcome = fetch_one(spec, None, clock)
    assert outcome.status == "error" and "410" in outcome.message
    assert outcome.state.disabled and "removed" in outcome.state.disabled
    assert health(outcome.state).startswith("disabled: HTTP 410")
    clock.advance(timedelta(days=30))
    again = fetch_one(spec, outcome.state, clock)
    assert again.status == "skipped" and again.message.startswith("disabled")
    assert len(server.hits("/gone")) == 1
    server.routes["/gone"] = Reply(body=rss("resurrected"), headers={"Content-Type": RSS})
    forced = fetch_one(spec, outcome.state, clock, force=True)
    assert forced.status == "new" and forced.state.disabled is None


def test_redirect_to_a_non_http_scheme_is_refused(server: FeedServer, clock: Clock) -> None:
    server.routes["/sneaky"] = Reply(302, headers={"Location": "file:///etc/passwd"})
    outcome = fetch_one(FeedSpec("s", server.url("/sneaky")), None, clock)
    assert outcome.status == "error" and "non-http(s)" in outcome.message


def test_unparsable_urls_are_that_feeds_error_not_a_crash(
    server: FeedServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    server.routes["/bad-hop"] = Reply(302, headers={"Location": "http://[::1/feed"})
    hop, stored = fetch_feeds(
        [
            (FeedSpec("hop", server.url("/bad-hop")), None),
            (FeedSpec("stored", "http://[::1/feed"), None),
        ],
        now=clock,
    )
    assert hop.status == "error" and "refused a redirect to an invalid URL" in hop.message
    assert stored.status == "error" and stored.message.startswith("invalid URL 'http://[::1/feed'")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback


def test_timeout_and_oversize_fail_only_that_feed(server: FeedServer, clock: Clock) -> None:
    server.routes["/ok"] = Reply(body=rss("fine"), headers={"Content-Type": RSS})
    server.routes["/hang"] = Reply(mode="hang")
    server.routes["/big"] = Reply(body=rss(*["x" * 100] * 200), headers={"Content-Type": RSS})
    specs = [FeedSpec(n, server.url(f"/{n}")) for n in ("hang", "ok", "big")]
    started = time.monotonic()
    outcomes = fetch_feeds([(s, None) for s in specs], now=clock, timeout=1.0, max_bytes=10_000)
    assert time.monotonic() - started < 8
    by_name = {o.feed: o for o in outcomes}
    assert [o.feed for o in outcomes] == ["hang", "ok", "big"]
    assert by_name["ok"].status == "new"
    assert by_name["hang"].status == "error" and "timed out" in by_name["hang"].message
    assert by_name["big"].status == "error" and "larger than" in by_name["big"].message


def test_gzip_bomb_is_capped_after_decompression(server: FeedServer, clock: Clock) -> None:
    bomb = gzip.compress(b"<?xml version='1.0'?><rss>" + b" " * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    server.routes["/bomb"] = Reply(
        body=bomb, headers={"Content-Type": RSS, "Content-Encoding": "gzip"}
    )
    outcome = fetch_one(FeedSpec("bomb", server.url("/bomb")), None, clock, max_bytes=1_000_000)
    assert outcome.status == "error" and "once decompressed" in outcome.message


def test_slow_drip_and_endless_responses_are_bounded(server: FeedServer, clock: Clock) -> None:
    server.routes["/drip"] = Reply(headers={"Content-Type": RSS}, mode="drip")
    server.routes["/endless"] = Reply(headers={"Content-Type": RSS}, mode="endless")
    started = time.monotonic()
    drip, endless = fetch_feeds(
        [
            (FeedSpec("drip", server.url("/drip")), None),
            (FeedSpec("e", server.url("/endless")), None),
        ],
        now=clock,
        timeout=1.0,
        max_bytes=2_000_000,
    )
    assert time.monotonic() - started < 8
    assert drip.status == "error" and "timed out" in drip.message
    assert endless.status == "error" and "larger than" in endless.message


def test_quadratic_author_is_stopped_by_the_parse_clock(server: FeedServer, clock: Clock) -> None:
    # feedparser's author regex is quadratic: a 32 KB <author> takes seconds.
    server.routes["/slow"] = Reply(body=rss("t", author="a" * 32768), headers={"Content-Type": RSS})
    server.routes["/ok"] = Reply(body=rss("fine"), headers={"Content-Type": RSS})
    started = time.monotonic()
    slow, ok = fetch_feeds(
        [(FeedSpec("slow", server.url("/slow")), None), (FeedSpec("ok", server.url("/ok")), None)],
        now=clock,
        parse_timeout=0.5,
    )
    assert time.monotonic() - started < 8
    assert slow.status == "error" and "longer than 0.5 s" in slow.message
    assert ok.status == "new" and [e.title for e in ok.entries] == ["fine"]


def test_malformed_feed_with_entries_warns_and_without_entries_errors(
    server: FeedServer, clock: Clock
) -> None:
    broken = rss("kept one").replace(b"</channel></rss>", b"<item><title>cut off")
    server.routes["/bozo"] = Reply(body=broken, headers={"Content-Type": RSS})
    server.routes["/html"] = Reply(
        body=b"<html><body><h1>Not a feed</h1></body></html>", headers={"Content-Type": "text/html"}
    )
    bozo, html = fetch_feeds(
        [
            (FeedSpec("bozo", server.url("/bozo")), None),
            (FeedSpec("html", server.url("/html")), None),
        ],
        now=clock,
    )
    assert bozo.status == "new" and bozo.entries[0].title == "kept one"
    assert bozo.warnings and "malformed" in bozo.warnings[0]
    assert html.status == "error" and html.state.etag is None


def test_unreachable_and_unsupported_urls_are_errors(server: FeedServer, clock: Clock) -> None:
    server.stop()
    outcomes = fetch_feeds(
        [
            (FeedSpec("down", server.url("/x")), None),
            (FeedSpec("ftp", "ftp://example.org/feed"), None),
            (FeedSpec("missing", "/nonexistent/feed.xml"), None),
        ],
        now=clock,
        timeout=2.0,
    )
    assert [o.status for o in outcomes] == ["error"] * 3
    assert "could not download" in outcomes[0].message
    assert "unsupported URL scheme 'ftp'" in outcomes[1].message
    assert "no such file" in outcomes[2].message


def test_local_paths_and_file_urls_with_mtime_as_last_modified(clock: Clock) -> None:
    path = FIXTURES / "arxiv-cs.LG.atom"
    by_path = fetch_one(FeedSpec("p", str(path), "arxiv"), None, clock)
    by_url = fetch_one(FeedSpec("u", path.as_uri(), "arxiv"), None, clock)
    assert by_path.status == by_url.status == "new"
    assert [e.key for e in by_path.entries] == [e.key for e in by_url.entries]
    assert len(by_path.entries) == 2
    again = fetch_one(FeedSpec("p", str(path), "arxiv"), by_path.state, clock)
    assert again.status == "not_modified"


def test_progress_is_called_once_per_feed(server: FeedServer, clock: Clock) -> None:
    for i in range(5):
        server.routes[f"/f{i}"] = Reply(body=rss(f"t{i}"), headers={"Content-Type": RSS})
    seen: list[str] = []
    outcomes = fetch_feeds(
        [(FeedSpec(f"f{i}", server.url(f"/f{i}")), None) for i in range(5)],
        now=clock,
        concurrency=2,
        progress=lambda o: seen.append(o.feed),
    )
    assert sorted(seen) == [f"f{i}" for i in range(5)]
    assert [o.entries[0].title for o in outcomes] == [f"t{i}" for i in range(5)]


def test_hf_daily_papers_over_http(server: FeedServer, clock: Clock) -> None:
    server.routes["/api/daily_papers?date=2024-03-12"] = Reply(
        body=fixture("hf-daily-papers.json"), headers={"Content-Type": "application/json"}
    )
    spec = FeedSpec("hf", server.url("/api/daily_papers?date=2024-03-12"), "hf-daily-papers")
    outcome = fetch_one(spec, None, clock)
    assert outcome.status == "new", outcome.message
    assert {e.key: e.popularity for e in outcome.entries} == {
        "arxiv:2403.06892": 42,
        "arxiv:2403.07001": 7,
    }


def test_works_from_async_code_and_with_naive_stored_datetimes(
    server: FeedServer, clock: Clock
) -> None:
    import asyncio

    server.routes["/a"] = Reply(body=rss("a"), headers={"Content-Type": RSS})
    # A database may hand datetimes back without tzinfo; they are read as UTC.
    state = FeedState(url=server.url("/a"), next_fetch_after=datetime(2024, 3, 11, 13, 0))

    async def caller() -> list[FetchOutcome]:
        return fetch_feeds([(FeedSpec("a", server.url("/a")), state)], now=clock)

    [skipped] = asyncio.run(caller())
    assert skipped.status == "skipped" and "13:00:00 UTC" in skipped.message
    clock.advance(timedelta(hours=2))
    [fetched] = asyncio.run(caller())
    assert fetched.status == "new"


def test_a_failing_progress_callback_does_not_lose_results(
    server: FeedServer, clock: Clock
) -> None:
    server.routes["/a"] = Reply(body=rss("a"), headers={"Content-Type": RSS})

    def broken(outcome: FetchOutcome) -> None:
        raise RuntimeError("display gone")

    [outcome] = fetch_feeds([(FeedSpec("a", server.url("/a")), None)], now=clock, progress=broken)
    assert outcome.status == "new"


def test_an_empty_arxiv_day_is_quiet_not_failing(server: FeedServer, clock: Clock) -> None:
    server.routes["/weekend"] = Reply(
        body=fixture("arxiv-empty.rss"), headers={"Content-Type": RSS}
    )
    state = None
    for _ in range(4):
        outcome = fetch_one(FeedSpec("cs.CL", server.url("/weekend"), "arxiv"), state, clock)
        state = outcome.state
        assert outcome.status == "new" and outcome.entries == () and outcome.warnings == ()
    assert state is not None and health(state) == "quiet (no new entries)"


def test_relative_links_resolve_against_the_feed_location(server: FeedServer, clock: Clock) -> None:
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        b"<item><title>rel</title><link>/posts/7</link></item></channel></rss>"
    )
    server.routes["/blog/feed"] = Reply(body=body, headers={"Content-Type": RSS})
    outcome = fetch_one(FeedSpec("b", server.url("/blog/feed")), None, clock)
    assert outcome.entries[0].link == server.url("/posts/7")
    assert outcome.entries[0].key == f"url:127.0.0.1:{server.port}/posts/7"


def test_content_encodings_and_truncated_transfers(server: FeedServer, clock: Clock) -> None:
    import zlib

    body = rss("enc")
    server.routes["/deflate"] = Reply(
        body=zlib.compress(body), headers={"Content-Encoding": "deflate"}
    )
    raw = zlib.compressobj(wbits=-15)
    server.routes["/raw"] = Reply(
        body=raw.compress(body) + raw.flush(), headers={"Content-Encoding": "deflate"}
    )
    server.routes["/br"] = Reply(body=b"\x0b\x02\x80", headers={"Content-Encoding": "br"})
    server.routes["/corrupt"] = Reply(
        body=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}
    )
    server.routes["/short"] = Reply(body=body, mode="short")
    names = ["deflate", "raw", "br", "corrupt", "short"]
    outcomes = fetch_feeds([(FeedSpec(n, server.url(f"/{n}")), None) for n in names], now=clock)
    result = {o.feed: (o.status, o.message) for o in outcomes}
    assert result["deflate"] == ("new", "1 entry") and result["raw"] == ("new", "1 entry")
    assert result["br"][0] == "error" and "unsupported Content-Encoding 'br'" in result["br"][1]
    assert result["corrupt"][0] == "error" and "corrupt" in result["corrupt"][1]
    assert result["short"][0] == "error" and "could not download" in result["short"][1]


def test_works_from_a_script_without_a_main_guard(tmp_path: Path) -> None:
    # multiprocessing's spawn/forkserver would re-run such a script in every worker.
    import subprocess
    import sys

    script = tmp_path / "fetch_once.py"
    script.write_text(
        "from datetime import UTC, datetime\n"
        "from newsletter.sources import FeedSpec, fetch_feeds\n"
        f"spec = FeedSpec('lg', {str(FIXTURES / 'arxiv-cs.LG.atom')!r}, 'arxiv')\n"
        "[o] = fetch_feeds([(spec, None)], now=lambda: datetime(2024, 3, 12, tzinfo=UTC))\n"
        "print('RESULT', o.status, len(o.entries))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("RESULT") == 1 and "RESULT new 2" in done.stdout
