"""Fetch every due feed concurrently and turn each into a ``FetchOutcome``.

Downloads run on an asyncio loop (bounded by ``concurrency``) through the SSRF guard
(``guard``); parsing runs in the process's lasting parser pool (``worker``) with a
wall-clock limit. Whatever goes wrong with one feed becomes that feed's ``error``
outcome; the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from newsletter.records import FetchStatus
from newsletter.sources import politeness, retrieve
from newsletter.sources.guard import Connections, Resolver, origin
from newsletter.sources.model import FeedSpec, FeedState, FetchOutcome
from newsletter.sources.parse import ParseResult
from newsletter.sources.retrieve import Download, FetchError
from newsletter.sources.worker import ParseJob, ParserPool, shared_pool

log = logging.getLogger(__name__)

PER_HOST = 2
"""Downloads from one host at a time, at most (politeness; they share its connections)."""

PARSE_TIMEOUT = 20.0
"""Seconds one document may take to parse before its worker is killed."""


def fetch_feeds(
    feeds: Sequence[tuple[FeedSpec, FeedState | None]],
    *,
    now: Callable[[], datetime],
    concurrency: int = 8,
    timeout: float = 30.0,
    max_bytes: int = 20_000_000,
    force: bool = False,
    progress: Callable[[FetchOutcome], None] | None = None,
    parse_timeout: float = PARSE_TIMEOUT,
    parse_workers: int | None = None,
    allow_private: bool = False,
    resolver: Resolver | None = None,
) -> list[FetchOutcome]:
    """Fetch the due feeds; one outcome per input feed, in input order.

    ``now`` is the clock (inject one in tests). ``timeout`` bounds each download as a
    whole (connect, redirects, body), ``max_bytes`` its decompressed size. ``force``
    fetches feeds that are not due yet or disabled. ``progress`` is called once per
    feed as it finishes. Feeds with state ``None`` have never been fetched.

    Downloads connect only to public addresses, except the origin each feed's
    configured URL (``FeedSpec.url``) names; ``allow_private`` (the config's
    ``fetch_private_addresses``) lifts that check. ``resolver`` replaces the system's
    name lookup (tests). Parsing uses the process's lasting parser pool: the first
    body to parse starts it, at most ``parse_workers`` of its processes work for
    this call.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    run = _Run(
        now=now,
        concurrency=concurrency,
        timeout=timeout,
        max_bytes=max_bytes,
        force=force,
        progress=progress,
        parse_timeout=parse_timeout,
        parse_workers=parse_workers or min(concurrency, os.cpu_count() or 1),
        allow_private=allow_private,
        resolver=resolver,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run.all(feeds))
    # Called from async code: run our own loop in a helper thread.
    with ThreadPoolExecutor(1) as helper:
        return helper.submit(asyncio.run, run.all(feeds)).result()


class _Run:
    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        concurrency: int,
        timeout: float,
        max_bytes: int,
        force: bool,
        progress: Callable[[FetchOutcome], None] | None,
        parse_timeout: float,
        parse_workers: int,
        allow_private: bool,
        resolver: Resolver | None,
    ) -> None:
        self._clock = now
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.force = force
        self.progress = progress
        self.parse_timeout = parse_timeout
        self.parse_workers = parse_workers
        self.allow_private = allow_private
        self.resolver = resolver
        self.memory_limit = max(1 << 30, 64 * max_bytes)
        """Per parse: generous for any real feed within ``max_bytes``, fatal to a bomb."""

    def now(self) -> datetime:
        return self._clock().astimezone(UTC)

    async def all(self, feeds: Sequence[tuple[FeedSpec, FeedState | None]]) -> list[FetchOutcome]:
        slots = _Slots(self.concurrency, PER_HOST)
        pool = shared_pool(self.parse_workers)
        # A parse blocks its thread on a child's pipe; this many threads bound how many
        # of the pool's processes this call keeps busy.
        threads = ThreadPoolExecutor(self.parse_workers, thread_name_prefix="parse")
        with threads:
            async with Connections(
                allow_private=self.allow_private,
                resolver=self.resolver,
                max_connections=self.concurrency,
            ) as connections:
                tasks = [
                    self._guarded(connections, slots, pool, threads, spec, state)
                    for spec, state in feeds
                ]
                return list(await asyncio.gather(*tasks))

    async def _guarded(
        self,
        connections: Connections,
        slots: _Slots,
        pool: ParserPool,
        threads: ThreadPoolExecutor,
        spec: FeedSpec,
        state: FeedState | None,
    ) -> FetchOutcome:
        state = _utc_state(state) if state is not None else FeedState(url=spec.url)
        try:
            outcome = await self._one(connections, slots, pool, threads, spec, state)
        except Exception as exc:  # a bug must cost one feed, not the run
            log.exception("unexpected error while fetching feed %s", spec.name)
            message = f"internal error: {type(exc).__name__}: {exc}"
            new_state = politeness.failed(state, now=self.now(), message=message)
            outcome = FetchOutcome(spec.name, FetchStatus.ERROR, (), new_state, message)
        if self.progress is not None:
            try:
                self.progress(outcome)
            except Exception:  # a broken progress display must not lose the results
                log.exception("progress callback failed for feed %s", spec.name)
        return outcome

    async def _one(
        self,
        connections: Connections,
        slots: _Slots,
        pool: ParserPool,
        threads: ThreadPoolExecutor,
        spec: FeedSpec,
        state: FeedState,
    ) -> FetchOutcome:
        started = self.now()
        if not self.force:
            if state.disabled:
                return FetchOutcome(
                    spec.name, FetchStatus.SKIPPED, (), state, f"disabled: {state.disabled}"
                )
            if state.next_fetch_after is not None and state.next_fetch_after > started:
                when = state.next_fetch_after.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                return FetchOutcome(
                    spec.name, FetchStatus.SKIPPED, (), state, f"not due until {when}"
                )
        try:
            async with slots.take(state.url):
                answer = await self._download(connections, spec, state)
        except FetchError as exc:
            message = str(exc)
            new_state = politeness.failed(state, now=self.now(), message=message)
            return FetchOutcome(spec.name, FetchStatus.ERROR, (), new_state, message)
        now = self.now()
        url = answer.moved_to or state.url
        moved = f" (moved permanently to {answer.moved_to})" if answer.moved_to else ""
        if answer.status == 304:
            new_state = politeness.succeeded(
                state,
                now=now,
                url=url,
                entry_count=0,
                etag=answer.headers.get("etag") or state.etag,
                last_modified=answer.headers.get("last-modified") or state.last_modified,
                cache_control=answer.headers.get("cache-control"),
            )
            return FetchOutcome(
                spec.name, FetchStatus.NOT_MODIFIED, (), new_state, "not modified" + moved
            )
        if not 200 <= answer.status < 300 or answer.status == 204:
            return self._http_failure(spec, state, answer, now, url)
        job = ParseJob(
            body=answer.body,
            content_type=answer.headers.get("content-type"),
            location=answer.url if retrieve.is_http(answer.url) else _file_url(answer.url),
            spec=spec,
            now=now,
            memory_limit=self.memory_limit,
        )
        loop = asyncio.get_running_loop()
        result: ParseResult = await loop.run_in_executor(
            threads, pool.parse, job, self.parse_timeout
        )
        if result.error is not None:
            new_state = politeness.failed(state, now=now, message=result.error, url=url)
            return FetchOutcome(spec.name, FetchStatus.ERROR, (), new_state, result.error + moved)
        new_state = politeness.succeeded(
            state,
            now=now,
            url=url,
            entry_count=len(result.entries),
            etag=answer.headers.get("etag"),
            last_modified=answer.headers.get("last-modified"),
            cache_control=answer.headers.get("cache-control"),
        )
        count = len(result.entries)
        message = f"{count} {'entry' if count == 1 else 'entries'}"
        if result.skipped:
            message += f" ({result.skipped} left out by announce type)"
        return FetchOutcome(
            spec.name, FetchStatus.NEW, result.entries, new_state, message + moved, result.warnings
        )

    async def _download(
        self, connections: Connections, spec: FeedSpec, state: FeedState
    ) -> Download:
        try:
            path = retrieve.local_path(state.url)
            http = retrieve.is_http(state.url)
        except ValueError as exc:  # e.g. an unclosed [ in the host
            raise FetchError(f"invalid URL {state.url[:200]!r}: {exc}") from None
        if path is not None:
            return await asyncio.to_thread(
                retrieve.read_file,
                path,
                last_modified=state.last_modified,
                max_bytes=self.max_bytes,
            )
        if not http:
            scheme = state.url.split(":", 1)[0]
            raise FetchError(f"unsupported URL scheme {scheme!r} (use http, https, file or a path)")
        return await retrieve.download(
            connections,
            state.url,
            configured=origin(spec.url),
            etag=state.etag,
            last_modified=state.last_modified,
            max_bytes=self.max_bytes,
            timeout=self.timeout,
        )

    def _http_failure(
        self, spec: FeedSpec, state: FeedState, answer: Download, now: datetime, url: str
    ) -> FetchOutcome:
        reason = f"HTTP {answer.status} {answer.reason}".strip()
        if answer.status == 410:
            message = (
                f"{reason}: the publisher has removed this feed; it is no longer fetched "
                "(remove it from the config, or fetch with --force to try again)"
            )
            new_state = politeness.failed(state, now=now, message=message, url=url, disable=True)
            return FetchOutcome(spec.name, FetchStatus.ERROR, (), new_state, message)
        not_before = None
        if answer.status in (429, 503):
            not_before = politeness.retry_after(answer.headers.get("retry-after"), now)
        message = reason
        if not_before is not None:
            message += f" (server asks to retry after {not_before:%Y-%m-%d %H:%M:%S} UTC)"
        new_state = politeness.failed(
            state, now=now, message=message, url=url, not_before=not_before
        )
        return FetchOutcome(spec.name, FetchStatus.ERROR, (), new_state, message)


class _Slots:
    """Download slots: ``total`` at once, ``per_host`` of them for any one host.

    The host's slot is taken first, so a download waiting for its host never holds one
    of the shared slots that downloads from other hosts could use.
    """

    def __init__(self, total: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def take(self, url: str) -> AsyncIterator[None]:
        try:
            host = (urlsplit(url).hostname or "") if retrieve.is_http(url) else ""
        except ValueError:  # unparsable: the download will say so
            host = ""
        if not host:  # a local file
            async with self._total:
                yield
            return
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        async with per_host, self._total:
            yield


def _utc_state(state: FeedState) -> FeedState:
    """The state with naive datetimes (as some databases return them) read as UTC."""

    def utc(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    return replace(
        state,
        next_fetch_after=utc(state.next_fetch_after),
        last_success=utc(state.last_success),
        last_error_at=utc(state.last_error_at),
        failing_since=utc(state.failing_since),
    )


def _file_url(path: str) -> str:
    from pathlib import Path

    try:
        return Path(path).resolve().as_uri()
    except (OSError, ValueError):
        return "file:///"
