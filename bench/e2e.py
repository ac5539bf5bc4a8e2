"""End to end: `send` for many subscribers on SQLite and PostgreSQL with 1, 2 and 4 workers.

Each case is a fresh database and a fresh process that does what ``python -m newsletter
send --workers N`` does (fetch a local feed, compose, render, deliver to a counting SMTP
sink in its own process: :mod:`bench.sink`). The baseline for every row is the default
setup — SQLite, one worker — with the same subscribers in the same run. Every case also
checks that each subscriber received exactly one digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Row, row, write_project
from bench.sink import counting_sink

POSTGRES = os.environ.get(
    "NEWSLETTER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
WORKERS = (1, 2, 4)
ENTRIES = 200
TOPICS = 40
SECRET = "bench-secret-0123456789abcdef"


def postgres_available() -> bool:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRES)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@contextmanager
def fresh_database(backend: str, root: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{root / 'state' / 'bench.db'}"
        return
    from sqlalchemy import create_engine, make_url, text

    name = f"newsletter_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


NAIVE_SAMPLE = 60
"""Digests rendered the naive way for the personal-digest baseline (the same digests the
send then makes; enough for a steady per-digest time)."""


def naive_digests(app: Any) -> list[Any]:
    """The first digests this run would send (planned, not sent)."""
    from newsletter.run import DigestRun, FileSink, RunOptions

    run = DigestRun(app, FileSink(Path(tempfile.mkdtemp())), RunOptions(fetch=False))
    digests = []
    for planned in run.plan():
        if planned.composition is not None and planned.composition.digest is not None:
            digests.append(planned.composition.digest)
        if len(digests) == NAIVE_SAMPLE:
            break
    return digests


def naive_per_digest(app: Any, digests: list[Any]) -> float:
    """Seconds per digest for the reference path — Jinja2 + premailer.transform +
    EmailMessage per digest — over ``digests``, with the collector settings a run
    composes with."""
    from newsletter.render.naive import message_naive, render_naive
    from newsletter.run.garbage import fewer_collections
    from newsletter.run.links import Links
    from newsletter.run.messages import render_settings

    settings = render_settings(app.config)
    links = Links(app.config.base_url, SECRET, app.now())
    with fewer_collections():
        started = time.perf_counter()
        for n, digest in enumerate(digests):
            digest_links = links.for_digest(digest.subscriber.email)
            rendered = render_naive(settings, digest, digest_links)
            message_naive(settings, digest, rendered, message_id=f"<{n}@bench>")
        return (time.perf_counter() - started) / max(len(digests), 1)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in its own process: `send --workers N` as the CLI would, minus argument parsing."""
    from newsletter.app import open_app
    from newsletter.clock import system_clock
    from newsletter.run import send_with_workers
    from newsletter.run.workers import peak_rss_kib

    with open_app(Path(spec["env_file"]), Path(spec["config"]), system_clock) as app:
        digests: list[Any] = []
        naive_times: list[float] = []
        if spec.get("naive"):
            from newsletter.run import DigestRun, OutboxSink

            DigestRun(app, OutboxSink(app.store, app.store)).fetch()
            digests = naive_digests(app)
            naive_times.append(naive_per_digest(app, digests))
        started = time.perf_counter()
        outcome = send_with_workers(app, spec["workers"])
        send_seconds = time.perf_counter() - started
        if digests:
            # Timed before and after the send, the faster kept: a slow spell of this
            # shared machine during one of them must not flatter the ratio.
            naive_times.append(naive_per_digest(app, digests))
        naive = min(naive_times, default=None)
    return {
        "composed": outcome.tally.composed,
        "sent": outcome.tally.sent,
        "complete": outcome.complete,
        "processes": outcome.processes,
        "parent_peak_kib": peak_rss_kib(),
        "send_seconds": send_seconds,
        "naive_seconds_per_digest": naive,
        "worker_peak_kib": [w.peak_rss_kib for w in outcome.workers]
        + [outcome.delivery_peak_rss_kib],
    }


PERSONAL_TOPICS = 200
PERSONAL_ENTRIES = 600


def one_case(
    backend: str, subscribers: int, workers: int, *, personal: bool = False, sink: str = "lean"
) -> dict[str, Any]:
    """One send in a fresh process. ``personal``: a library of 200 topics, 3 per subscriber,
    up to 25 papers each, and the naive per-digest path timed in the same process first.
    ``sink``: the relay stand-in (:mod:`bench.sink`)."""
    with tempfile.TemporaryDirectory(prefix="nl-bench-") as tmp:
        root = Path(tmp)
        if personal:
            workload = write_project(
                root,
                subscribers=subscribers,
                entries=PERSONAL_ENTRIES,
                topics=PERSONAL_TOPICS,
                topics_each=3,
                max_items=25,
                now=datetime.now(UTC),
            )
        else:
            workload = write_project(
                root,
                subscribers=subscribers,
                entries=ENTRIES,
                topics=TOPICS,
                now=datetime.now(UTC),
            )
        with fresh_database(backend, root) as url, counting_sink(sink) as relay:
            env_file = root / ".env"
            env_file.write_text(
                f"SMTP_HOST=127.0.0.1\nSMTP_PORT={relay.port}\nSMTP_SECURITY=none\n"
                f"NEWSLETTER_SECRET={SECRET}\nNEWSLETTER_DATABASE_URL={url}\n",
                encoding="utf-8",
            )
            spec = {
                "config": str(workload.config),
                "env_file": str(env_file),
                "workers": workers,
                "naive": personal,
            }
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "bench.e2e", "--child", json.dumps(spec)],
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"e2e {backend} {subscribers} w{workers} failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["complete"] or relay.received != result["sent"]:
        raise RuntimeError(f"e2e {backend}: sent {result['sent']}, sink got {relay.received}")
    if relay.repeated or relay.distinct != result["composed"]:
        raise RuntimeError(
            f"e2e {backend}: {relay.repeated} repeated, {relay.distinct} distinct recipients "
            f"for {result['composed']} digests"
        )
    peak = max([result["parent_peak_kib"], *result["worker_peak_kib"]]) / 1024
    return {
        "backend": backend,
        "subscribers": subscribers,
        "workers": workers,
        "digests": result["sent"],
        "wall_s": wall,
        "digests_per_s": result["sent"] / wall,
        "peak_mib_per_process": peak,
        "processes": result["processes"],
        "send_digests_per_s": result["sent"] / result["send_seconds"],
        "naive_digests_per_s": (
            1 / result["naive_seconds_per_digest"] if result["naive_seconds_per_digest"] else None
        ),
    }


def personal_rows(quick: bool) -> list[Row]:
    """Issue 14's case: 2,000 personal digests (200 topics, 3 each) sent to a sink in another
    process, against the naive per-digest path (Jinja2 + premailer + EmailMessage) timed on
    the same digests in the same process. The send's time includes fetch, compose, the
    outbox and SMTP; the baseline's is rendering alone, so the ratio understates the gain."""
    subscribers = 500 if quick else 2_000
    print(f"  e2e personal digests: {subscribers} subscribers…", file=sys.stderr)
    rows = []
    for sink in ("lean", "aiosmtpd"):
        r = one_case("sqlite", subscribers, 1, personal=True, sink=sink)
        label = f"e2e send {subscribers} personal digests (200 topics, 3 each) vs naive render"
        if sink != "lean":
            label += f" ({sink} sink)"
        rows.append(
            row(
                f"{label}: digests/s",
                r["send_digests_per_s"],
                r["naive_digests_per_s"],
                "digests/s",
            )
        )
    return rows


def run(quick: bool, select: str | None = None) -> list[Row]:
    """``select`` limits the cases, e.g. "postgresql:100000:4" (backend:subscribers:workers)."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000)
    backends = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    wanted = select.split(":") if select else []
    rows: list[Row] = []
    if not wanted or wanted[0] == "personal":
        rows += personal_rows(quick)
        if wanted:
            return rows
    for size in sizes:
        cases = [(b, size, w) for b in backends for w in WORKERS]
        if wanted:
            cases = [c for c in cases if all(str(v) == s for v, s in zip(c, wanted, strict=False))]
            if not cases:
                continue
            # An explicit choice runs only that; its rows compare against its first case.
        results = []
        for case in cases:
            print(f"  e2e {case[0]} {case[1]} subscribers, {case[2]} worker(s)…", file=sys.stderr)
            results.append(one_case(*case))
        base = results[0]
        for r in results:
            label = f"e2e send {r['subscribers']} subs {r['backend']} {r['workers']}w"
            rows.append(
                row(f"{label}: digests/s", r["digests_per_s"], base["digests_per_s"], "digests/s")
            )
            rows.append(
                row(f"{label}: wall", r["wall_s"], base["wall_s"], "s", lower_is_better=True)
            )
            rows.append(
                row(
                    f"{label}: peak memory per process ({r['processes']} proc)",
                    r["peak_mib_per_process"],
                    base["peak_mib_per_process"],
                    "MiB",
                    lower_is_better=True,
                )
            )
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        from bench.common import print_table

        print_table(run(quick="--quick" in sys.argv))
