"""What commands print: tables for people, one line per item when not on a terminal."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from newsletter.records import FetchStatus
from newsletter.sources.health import feed_health

if TYPE_CHECKING:
    from pathlib import Path

    from newsletter.admin import Reactivation, SubscriberRow
    from newsletter.compose import Composition
    from newsletter.explain import MatchRow, SubscriberPlan
    from newsletter.run import FileRow, RunResult
    from newsletter.run.mailbox import BouncePass
    from newsletter.sources import FetchOutcome


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(str(r[i]).replace(",", "").isdigit() for r in rows) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if numeric[i] and row is not cells[0] else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    print(line(cells[0]), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells[1:]:
        print(line(row), file=out)


def human_size(size: int) -> str:
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} B"


def fetch_progress(total: int, out: TextIO | None = None) -> Callable[[FetchOutcome], None] | None:
    """A progress bar on a terminal; nothing otherwise (one line per feed follows anyway)."""
    stream = out or sys.stderr
    if not stream.isatty() or total == 0:
        return None
    done = 0

    def tick(outcome: FetchOutcome) -> None:
        nonlocal done
        done += 1
        filled = round(24 * done / total)
        bar = "#" * filled + "-" * (24 - filled)
        line = f"\rfetching [{bar}] {done}/{total} feeds ({outcome.feed})\x1b[K"
        print(line, end="", file=stream, flush=True)

    return tick


def send_progress(out: TextIO | None = None) -> Callable[[object, object], None] | None:
    """A running count of delivery outcomes on a terminal; nothing otherwise."""
    stream = out or sys.stderr
    if not stream.isatty():
        return None
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def tick(_row: object, result: object) -> None:
        status = str(getattr(result, "status", "?"))
        with lock:
            counts[status] = counts.get(status, 0) + 1
            done = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            print(f"\rdelivering: {done}\x1b[K", end="", file=stream, flush=True)

    return tick


def print_fetch(
    outcomes: Sequence[FetchOutcome], *, always: bool = False, out: TextIO | None = None
) -> None:
    """One line per feed; by default only when something needs attention."""
    out = out or sys.stdout
    if sys.stderr.isatty():
        print("\r\x1b[K", end="", file=sys.stderr)
    if not outcomes:
        if always:
            print("No feeds configured.", file=out)
        return
    if not always and all(o.status is not FetchStatus.ERROR for o in outcomes):
        new = sum(len(o.entries) for o in outcomes)
        print(f"Fetched {len(outcomes)} feeds: {new} entries received.", file=out)
        return
    rows = []
    for o in outcomes:
        if o.status is FetchStatus.NEW:
            what = f"{len(o.entries)} entries"
        elif o.status is FetchStatus.NOT_MODIFIED:
            what = "not modified"
        elif o.status is FetchStatus.SKIPPED:
            what = f"skipped: {o.message}" if o.message else "skipped (not due)"
        else:
            what = f"ERROR: {o.message}"
        if o.warnings:
            what += f" ({len(o.warnings)} warnings: {o.warnings[0]})"
        rows.append((o.feed, what, str(feed_health(o.state))))
    table(("feed", "this fetch", "health"), rows, out)


def flagged(outcomes: Sequence[FetchOutcome]) -> list[str]:
    """Feeds whose failures persisted past the threshold, or that were disabled."""
    return [o.feed for o in outcomes if feed_health(o.state).needs_attention]


def left_out(
    composition: Composition, *, lookback_days: int, max_items: int, every_topic: bool = False
) -> list[str]:
    """Per topic: how many matched, and why those not in the digest were left out (only
    topics that left something out, unless ``every_topic``)."""
    lines = []
    older = (
        f"older than the lookback ({lookback_days} days)"
        if composition.first_digest
        else "known before the previous digest"
    )
    for count in composition.counts:
        if not (every_topic or count.older or count.delivered or count.cut):
            continue
        parts = [f"{count.shown} in this digest"]
        if count.older:
            parts.append(f"{count.older} {older}")
        if count.delivered:
            parts.append(f"{count.delivered} already delivered")
        if count.cut and count.topic.trending:
            parts.append(f"{count.cut} less popular than its top {count.topic.trending}")
        elif count.cut:
            parts.append(f"{count.cut} cut by max_items ({max_items})")
        title = count.topic.title or count.topic.id
        lines.append(f"{title}: {plural(count.matched, 'match')} — " + ", ".join(parts))
    return lines


def plural(count: int, noun: str) -> str:
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}es" if noun.endswith(("ch", "s")) else f"{count} {noun}s"


DETAIL_LIMIT = 20
"""Subscribers whose per-topic details a dry run prints (use --subscriber for one)."""


def print_dry_run(
    rows: Sequence[FileRow],
    skipped: Sequence[Composition],
    *,
    out_dir: Path,
    lookback_days: int,
    max_items: int,
    out: TextIO | None = None,
) -> None:
    out = out or sys.stdout
    written = [r for r in rows if r.error is None]
    failed = [r for r in rows if r.error is not None]
    if written:
        table(
            ("subscriber", "topics", "items", "HTML size"),
            [(r.subscriber, r.topics, r.items, human_size(r.size)) for r in written],
            out,
        )
    else:
        print("No digests: no subscriber has new matching entries.", file=out)
    compositions = [r.composition for r in written if r.composition is not None]
    shown = 0
    for composition in [*compositions, *skipped]:
        if shown >= DETAIL_LIMIT:
            break
        lines = left_out(composition, lookback_days=lookback_days, max_items=max_items)
        if not lines:
            continue
        if shown == 0:
            print("\nPer topic (matched, and why the rest was left out):", file=out)
        shown += 1
        print(f"  {composition.subscriber.email}", file=out)
        for line in lines:
            print(f"    {line}", file=out)
    for r in failed:
        print(f"  failed: {r.subscriber}: {r.error}", file=out)
    if written:
        print(
            f"\nDry run: {len(written)} messages written to {out_dir}/ "
            "(.eml = exact bytes, .html and .txt previews). Nothing was sent or recorded.",
            file=out,
        )


def print_send(result: RunResult, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if sys.stderr.isatty():
        print("\r\x1b[K", end="", file=sys.stderr)
    for note in result.notes:
        print(note, file=sys.stderr)
    for worker in result.workers:
        if worker.error:
            print(
                f"worker {worker.index + 1}/{result.processes} failed: {worker.error}",
                file=sys.stderr,
            )
        elif worker.exitcode is not None and worker.exitcode != 0:
            how = (
                f"was killed by signal {-worker.exitcode}"
                if worker.exitcode < 0
                else f"exited with status {worker.exitcode}"
            )
            print(
                f"worker {worker.index + 1}/{result.processes} (pid {worker.pid}) {how}; the "
                "messages it had claimed go out on a later send once their lease expires.",
                file=sys.stderr,
            )
    tally = result.tally
    print(
        f"Composed {tally.composed} digests. Sent {tally.sent}, deferred {tally.deferred}, "
        f"failed {tally.failed}.",
        file=out,
    )
    for trouble in tally.troubles:
        print(f"  {trouble.status}: {trouble.recipient}: {trouble.reason}", file=out)
    if result.waiting:
        when = f"{result.next_retry:%Y-%m-%d %H:%M} UTC" if result.next_retry else "soon"
        print(
            f"{result.waiting} message{'s' if result.waiting != 1 else ''} deferred in the "
            f"outbox; the next retry is due at {when} (send --retry-deferred retries now).",
            file=out,
        )
    if result.stopped:
        print("Stopped before the outbox was empty; the next send finishes it.", file=out)
    if result.paused:
        print(f"paused: {result.paused}", file=out)
        print(
            "The messages waiting were put back without spending an attempt; fix the relay "
            "(or wait), then send again — the daemon retries by itself, 5 minutes after the "
            "pause and then doubling up to 4 hours.",
            file=out,
        )


def print_subscribers(
    rows: Sequence[SubscriberRow], *, as_json: bool = False, out: TextIO | None = None
) -> None:
    out = out or sys.stdout
    if as_json:
        for r in rows:
            record = {
                "email": r.email,
                "name": r.name,
                "origin": r.origin.value,
                "status": r.status.value,
                "schedule": r.schedule,
                "timezone": r.timezone,
                "topics": r.topics,
                "topic_ids": list(r.topic_ids),
                "last_digest": _iso(r.last_digest),
                "failed": r.failed,
                "deferred": r.deferred,
                "suppressed_reason": r.suppressed_reason.value if r.suppressed_reason else None,
                "suppressed_at": _iso(r.suppressed_at),
                "paused_until": _iso(r.paused_until),
            }
            print(json.dumps(record, ensure_ascii=False), file=out)
        return
    table(
        ("subscriber", "origin", "schedule", "topics", "status", "last digest", "failing"),
        [
            (
                r.email,
                r.origin.value,
                f"{r.schedule} ({r.timezone})",
                r.topics,
                r.describe(),
                f"{r.last_digest:%Y-%m-%d %H:%M} UTC" if r.last_digest else "never",
                f"{r.failed} failed, {r.deferred} deferred" if r.failed or r.deferred else "-",
            )
            for r in rows
        ],
        out,
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def print_matches(
    rows: Sequence[MatchRow], *, as_json: bool = False, out: TextIO | None = None
) -> None:
    out = out or sys.stdout
    if as_json:
        print(json.dumps([r.as_json() for r in rows], indent=1, ensure_ascii=False), file=out)
        return
    if not rows:
        print("No entries match.", file=out)
        return
    table(
        ("score", "title", "matched", "topics"),
        [
            (
                f"{r.score:.2f}"
                + (f" (sim {r.similarity:.2f})" if r.similarity is not None else ""),
                r.title if len(r.title) <= 60 else r.title[:59] + "…",
                ", ".join(r.matched_terms) or "-",
                ", ".join(r.topics),
            )
            for r in rows
        ],
        out,
    )
    print(f"\n{len(rows)} entries match.", file=out)


def print_subscriber_plan(
    plan: SubscriberPlan, *, as_json: bool = False, out: TextIO | None = None
) -> None:
    """The next digest's papers, then per topic what was left out and why."""
    out = out or sys.stdout
    if as_json:
        print_matches(plan.rows, as_json=True, out=out)
        return
    if plan.rows:
        print_matches(plan.rows, out=out)
    else:
        print("No entries match: the next digest would be empty (no mail).", file=out)
    if plan.composition is not None:
        lines = left_out(
            plan.composition,
            lookback_days=plan.lookback_days,
            max_items=plan.max_items,
            every_topic=True,
        )
        print("\nPer topic:", file=out)
        for line in lines:
            print(f"  {line}", file=out)


def print_reactivated(result: Reactivation, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if result.lifted is None:
        print(f"{result.email} is not suppressed; nothing to do.", file=out)
        return
    lifted = result.lifted
    print(
        f"Reactivated {result.email} (was suppressed: {lifted.reason} since "
        f"{lifted.since:%Y-%m-%d %H:%M} UTC); their next digest goes out as usual.",
        file=out,
    )


def print_bounces(result: BouncePass, out: TextIO | None = None) -> None:
    """One line per mail read, then the summary (a dry run says what it would do)."""
    from newsletter.run.mailbox import Outcome

    out = out or sys.stdout
    for handled in result.handled:
        who = f"{handled.email}: " if handled.email else ""
        detail = f" ({handled.detail})" if handled.detail and handled.detail != handled.done else ""
        print(f"  {handled.outcome}: {who}{handled.done}{detail}", file=out)
    counts = [
        (result.count(Outcome.HARD), "hard bounce"),
        (result.count(Outcome.SOFT), "soft bounce"),
        (result.count(Outcome.COMPLAINT), "complaint"),
        (result.count(Outcome.UNSUBSCRIBE), "unsubscribe"),
    ]
    summary = ", ".join(plural(n, noun) for n, noun in counts)
    news = result.count(Outcome.NEWS)
    print(
        f"{result.mailbox}: {plural(result.read, 'message')} read: {summary}"
        + (f", {news} needing no action" if news else "")
        + f"; {result.count(Outcome.UNREAD)} left unread.",
        file=out,
    )
    if result.dry_run:
        print("Dry run: nothing was changed, in the database or the mailbox.", file=out)
