"""The parser pool: started only when a body needs parsing, kept for the process's life,
hung or dead children replaced, and what a failing child said kept in the log.

The children are real processes. Crashes are real too: a job can carry an object whose
unpickling in the child runs a function (``__reduce__``), the one way to make our own
child segfault, exit or raise at a chosen moment.
"""

from __future__ import annotations

import ctypes
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sources_server import Clock, FeedServer, Reply, serve

from newsletter.sources import FeedSpec, fetch_feeds
from newsletter.sources.worker import ParseJob, ParserPool, close_shared_pool, shared_pool

T0 = datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
RSS = "application/rss+xml"
SPEC = FeedSpec("lab-blog", "https://x/")
FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


def rss(*titles: str, author: str = "") -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{i}</link>"
        f"{f'<author>{author}</author>' if author else ''}</item>"
        for i, t in enumerate(titles)
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel>{items}</channel></rss>".encode()


class Unpickles:
    """Runs ``call(*args)`` in whichever process unpickles it: the child."""

    def __init__(self, call: Any, *args: Any) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.call, self.args


def job(body: object, **kwargs: Any) -> ParseJob:
    return ParseJob(body, RSS, "https://x/", SPEC, T0, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    yield from serve()


@pytest.fixture
def fresh() -> Iterator[None]:
    """No shared pool from earlier tests: this one sees what it starts."""
    close_shared_pool()
    yield
    close_shared_pool()


@pytest.fixture
def pool() -> Iterator[ParserPool]:
    with ParserPool(1, timeout=10.0) as parsers:
        yield parsers


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


def test_an_all_304_pass_starts_no_parser(fresh: None, server: FeedServer) -> None:
    server.routes["/f"] = Reply(body=rss("one"), headers={"Content-Type": RSS}, etag='"1"')
    spec = FeedSpec("f", server.url("/f"))
    [first] = fetch_feeds([(spec, None)], now=Clock(T0))
    assert first.status == "new" and len(shared_pool(1).pids()) == 1
    close_shared_pool()
    [second] = fetch_feeds([(spec, first.state)], now=Clock(T0))
    assert second.status == "not_modified"
    assert shared_pool(1).pids() == []


def test_the_pool_outlives_a_fetch_and_its_warm_process_is_reused(
    fresh: None, server: FeedServer
) -> None:
    for name in ("a", "b", "c"):
        server.routes[f"/{name}"] = Reply(body=rss(name), headers={"Content-Type": RSS})
    seen = []
    for name in ("a", "b", "c"):
        [outcome] = fetch_feeds([(FeedSpec(name, server.url(f"/{name}")), None)], now=Clock(T0))
        assert outcome.status == "new" and outcome.entries[0].title == name
        seen.append(shared_pool(1).pids())
    assert seen[0] == seen[1] == seen[2] and len(seen[0]) == 1
    assert alive(seen[0][0])


def test_a_hung_parse_is_stopped_with_its_stack_logged_and_the_child_replaced(
    fresh: None, server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    # feedparser's author regex is quadratic: a 32 KB <author> takes seconds.
    server.routes["/slow"] = Reply(body=rss("t", author="a" * 32768), headers={"Content-Type": RSS})
    server.routes["/ok"] = Reply(body=rss("fine"), headers={"Content-Type": RSS})
    [slow] = fetch_feeds(
        [(FeedSpec("slow", server.url("/slow")), None)], now=Clock(T0), parse_timeout=0.5
    )
    assert slow.status == "error" and "longer than 0.5 s" in slow.message
    assert "\n" not in slow.message
    [record] = [r for r in caplog.records if "slow" in r.getMessage()]
    assert record.name.startswith("newsletter.sources") and record.levelno == logging.WARNING
    text = record.getMessage()
    assert "most recent call first" in text and "feedparser" in text  # where it was stuck
    assert shared_pool(1).pids() == []  # the hung child is gone
    [ok] = fetch_feeds([(FeedSpec("ok", server.url("/ok")), None)], now=Clock(T0))
    assert ok.status == "new" and len(shared_pool(1).pids()) == 1


def test_a_child_that_crashes_is_logged_with_its_stack_and_replaced(
    pool: ParserPool, caplog: pytest.LogCaptureFixture
) -> None:
    assert pool.parse(job(rss("warm"))).entries[0].title == "warm"
    [before] = pool.pids()
    result = pool.parse(job(Unpickles(ctypes.string_at, 0)))  # reads address 0: SIGSEGV
    assert result.error == "the parser process died on this document (killed by SIGSEGV)"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name.startswith("newsletter.sources")
    text = record.getMessage()
    assert "feed lab-blog" in text and "killed by SIGSEGV" in text
    assert "Segmentation fault" in text and "string_at" in text  # faulthandler's dump
    assert pool.parse(job(rss("again"))).entries[0].title == "again"
    [after] = pool.pids()
    assert after != before and not alive(before)


def test_a_child_that_exits_says_with_which_code(
    pool: ParserPool, caplog: pytest.LogCaptureFixture
) -> None:
    result = pool.parse(job(Unpickles(os._exit, 3)))
    assert result.error == "the parser process died on this document (exit code 3)"
    assert "it wrote nothing to stderr" in caplog.records[-1].getMessage()
    assert pool.parse(job(rss("back"))).entries[0].title == "back"


def test_an_exception_in_the_child_keeps_its_traceback_in_the_log(
    pool: ParserPool, caplog: pytest.LogCaptureFixture
) -> None:
    pool.parse(job(rss("warm")))
    [pid] = pool.pids()
    result = pool.parse(job(Unpickles(int, "not a number")))
    assert result.error is not None and "\n" not in result.error
    assert result.error.startswith("the parser failed (ValueError: invalid literal for int()")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = record.getMessage()
    assert "parsing feed lab-blog" in text
    assert "Traceback (most recent call last)" in text and "ValueError" in text
    assert pool.pids() == [pid]  # a caught failure costs no process


def test_the_memory_limit_holds_per_parse_and_is_lifted_after(pool: ParserPool) -> None:
    body = rss(*[f"title {i} " + "word " * 200 for i in range(2000)])
    starved = pool.parse(job(body, memory_limit=1))
    assert starved.error is not None and "MemoryError" in starved.error
    assert starved.entries == ()
    [pid] = pool.pids()
    fed = pool.parse(job(body))
    assert fed.error is None and len(fed.entries) == 2000
    assert pool.pids() == [pid]  # the same child, its limit lifted after the starved parse


def test_a_child_killed_while_idle_is_replaced(
    pool: ParserPool, caplog: pytest.LogCaptureFixture
) -> None:
    pool.parse(job(rss("one")))
    [pid] = pool.pids()
    os.kill(pid, 9)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped
    assert pool.parse(job(rss("two"))).entries[0].title == "two"
    assert pool.pids() != [pid]
    assert "exited while idle (killed by SIGKILL)" in caplog.records[-1].getMessage()


def test_close_stops_the_children_and_refuses_more_work() -> None:
    parsers = ParserPool(2, timeout=10.0)
    parsers.parse(job(rss("x")))
    [pid] = parsers.pids()
    parsers.close()
    assert parsers.pids() == [] and not alive(pid)
    with pytest.raises(RuntimeError, match="closed"):
        parsers.parse(job(rss("y")))


def test_the_children_are_stopped_when_the_program_exits(tmp_path: Path) -> None:
    script = tmp_path / "fetch_and_exit.py"
    script.write_text(
        "from datetime import UTC, datetime\n"
        "from newsletter.sources import FeedSpec, fetch_feeds\n"
        "from newsletter.sources.worker import shared_pool\n"
        f"spec = FeedSpec('lg', {str(FIXTURES / 'arxiv-cs.LG.atom')!r}, 'arxiv')\n"
        "[o] = fetch_feeds([(spec, None)], now=lambda: datetime(2024, 3, 12, tzinfo=UTC))\n"
        "print('PIDS', *shared_pool(1).pids())\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    pids = [int(p) for p in done.stdout.split("PIDS", 1)[1].split()]
    assert len(pids) == 1 and not alive(pids[0])
    assert done.stderr == ""
