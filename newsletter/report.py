"""What commands print: tables for people, one line per item when not on a terminal."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from newsletter.admin import SubscriberStatus
    from newsletter.delivery import SendOutcome
    from newsletter.explain import MatchRow
    from newsletter.pipeline import DryRunReport
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
    if not always and all(o.status != "error" for o in outcomes):
        new = sum(len(o.entries) for o in outcomes)
        print(f"Fetched {len(outcomes)} feeds: {new} entries received.", file=out)
        return
    from newsletter.sources import health

    rows = []
    for o in outcomes:
        if o.status == "new":
            what = f"{len(o.entries)} entries"
        elif o.status == "not_modified":
            what = "not modified"
        elif o.status == "skipped":
            what = f"skipped: {o.message}" if o.message else "skipped (not due)"
        else:
            what = f"ERROR: {o.message}"
        if o.warnings:
            what += f" ({len(o.warnings)} warnings: {o.warnings[0]})"
        rows.append((o.feed, what, health(o.state)))
    table(("feed", "this fetch", "health"), rows, out)


def flagged(outcomes: Sequence[FetchOutcome], threshold: int = 3) -> list[str]:
    """Feeds whose failures persisted past the threshold, or that were disabled."""
    from newsletter.sources import health

    return [
        o.feed for o in outcomes if health(o.state, threshold).startswith(("failing", "disabled"))
    ]


def print_dry_run(report: DryRunReport, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if not report.rows:
        print("No digests: no subscriber has new matching entries.", file=out)
        return
    table(
        ("subscriber", "topics", "items", "size"),
        [(r.subscriber, r.topics, r.items, human_size(r.size)) for r in report.rows],
        out,
    )
    print(
        f"\nDry run: {len(report.rows)} messages written to {report.out_dir}/ "
        "(.eml = exact bytes, .html and .txt previews). Nothing was sent or recorded.",
        file=out,
    )


def print_send(outcome: SendOutcome, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if sys.stderr.isatty():
        print("\r\x1b[K", end="", file=sys.stderr)
    print(
        f"Composed {outcome.composed} digests. Sent {outcome.sent}, deferred {outcome.deferred}, "
        f"failed {outcome.failed}.",
        file=out,
    )
    for recipient, status, reply in outcome.problems:
        print(f"  {status}: {recipient}: {reply}", file=out)


def print_subscribers(
    rows: Sequence[SubscriberStatus], *, as_json: bool = False, out: TextIO | None = None
) -> None:
    out = out or sys.stdout
    if as_json:
        for r in rows:
            record = {
                **r.__dict__,
                "last_digest": r.last_digest.isoformat() if r.last_digest else None,
            }
            print(json.dumps(record), file=out)
        return
    table(
        ("subscriber", "schedule", "topics", "status", "last digest", "failing"),
        [
            (
                r.email,
                f"{r.schedule} ({r.timezone})",
                r.topics,
                r.status,
                f"{r.last_digest:%Y-%m-%d %H:%M} UTC" if r.last_digest else "never",
                f"{r.failed} failed, {r.deferred} deferred" if r.failed or r.deferred else "-",
            )
            for r in rows
        ],
        out,
    )


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
