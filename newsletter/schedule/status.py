"""`newsletter status`: where things stand, read from the config and the database alone.

It works whether or not the daemon is running (it does not talk to it): next run times come
from the cron of each (schedule, time zone) group, the rest from the ``runs``, ``feeds`` and
``outbox`` tables. Exit 1 means something needs a person: a feed failing for 3 fetches in a
row or disabled, a digest overdue (is the daemon running?), messages deferred, or the last
run of a schedule ending incomplete.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from newsletter.pipeline import App, feed_specs
from newsletter.report import table
from newsletter.schedule.timing import groups, latest_fire, next_fire
from newsletter.sources import FeedState, health

FAILING_AFTER = 3
"""Failed fetches in a row before a feed counts as failing (one bad fetch is weather)."""
OVERDUE_AFTER = timedelta(minutes=15)
"""A fire time this old with no run means no daemon sent it."""


@dataclass(frozen=True)
class GroupStatus:
    key: str
    cron: str
    subscribers: int
    next_run: datetime | None
    last_period: str | None
    last_status: str | None
    last_summary: dict[str, Any]
    last_finished: datetime | None
    overdue: str | None = None


@dataclass(frozen=True)
class FeedStatus:
    name: str
    health: str
    last_fetch: datetime | None

    @property
    def needs_attention(self) -> bool:
        return self.health.startswith(("failing", "disabled"))


@dataclass
class StatusReport:
    now: datetime
    groups: list[GroupStatus] = field(default_factory=list)
    feeds: list[FeedStatus] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def _feed_state(url: str, row: dict[str, Any] | None) -> FeedState | None:
    if row is None or row.get("config_url") != url:
        return None  # never fetched under this URL
    names = FeedState.__dataclass_fields__
    return FeedState(**{k: v for k, v in row.items() if k in names})


def collect_status(app: App) -> StatusReport:
    now = app.now()
    report = StatusReport(now=now)
    runs = app.store.last_runs()
    for group in groups(app.config):
        trigger = group.trigger()
        last = runs.get(group.key) or {}
        due = latest_fire(trigger, now, app.config.catch_up)
        overdue = None
        missed = due is not None and last.get("period") != group.period(due)
        if due is not None and missed and now - due >= OVERDUE_AFTER:
            overdue = f"{group.period(due)} was due at {due:%Y-%m-%d %H:%M %Z} and has not run"
            report.problems.append(f"schedule {group.key}: {overdue} — is `newsletter run` up?")
        summary = last.get("summary") or {}
        if last and (summary.get("deferred") or summary.get("failed")):
            report.problems.append(
                f"schedule {group.key}: last run {last['period']} ended {last['status']} "
                f"({summary.get('deferred', 0)} deferred, {summary.get('failed', 0)} failed)"
            )
        report.groups.append(
            GroupStatus(
                key=group.key,
                cron=group.cron,
                subscribers=len(group.subscribers),
                next_run=next_fire(trigger, now),
                last_period=last.get("period"),
                last_status=last.get("status"),
                last_summary=summary,
                last_finished=last.get("finished_at"),
                overdue=overdue,
            )
        )
    rows = app.store.feed_rows()
    for spec in feed_specs(app.config):
        row = rows.get(spec.name)
        feed = FeedStatus(
            name=spec.name,
            health=health(_feed_state(spec.url, row), FAILING_AFTER),
            last_fetch=(row or {}).get("last_fetch"),
        )
        report.feeds.append(feed)
        if feed.needs_attention:
            report.problems.append(f"feed {feed.name}: {feed.health}")
    report.outbox = app.store.outbox_counts()
    if report.outbox.get("deferred"):
        report.problems.append(
            f"{report.outbox['deferred']} messages deferred — the relay refuses or is "
            "unreachable; they are retried with backoff"
        )
    return report


def _when(moment: datetime | None, tz: str | None = None) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(tz)) if tz else moment.astimezone(UTC)
    return local.strftime("%Y-%m-%d %H:%M %Z")


def _outcome(group: GroupStatus) -> str:
    if group.last_period is None:
        return "never run"
    s = group.last_summary
    counts = ", ".join(
        f"{s[k]} {k}" for k in ("composed", "sent", "deferred", "failed") if s.get(k) is not None
    )
    return f"{group.last_period}: {group.last_status}" + (f" ({counts})" if counts else "")


def print_status(report: StatusReport, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    print(f"Status at {_when(report.now)}", file=out)
    print("", file=out)
    if report.groups:
        rows = [
            (
                g.key,
                g.cron,
                g.subscribers,
                _when(g.next_run, g.key.partition("@")[2]),
                _outcome(g),
            )
            for g in report.groups
        ]
        table(("schedule", "cron", "subscribers", "next run", "last run"), rows, out)
    else:
        print("No subscribers, so no schedules.", file=out)
    print("", file=out)
    if report.feeds:
        table(
            ("feed", "health", "last fetch"),
            [(f.name, f.health, _when(f.last_fetch)) for f in report.feeds],
            out,
        )
    else:
        print("No feeds configured.", file=out)
    print("", file=out)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.outbox.items())) or "empty"
    print(f"Outbox: {counts}", file=out)
    print("", file=out)
    if report.problems:
        print(f"Needs attention ({len(report.problems)}):", file=out)
        for problem in report.problems:
            print(f"  - {problem}", file=out)
    else:
        print("All well.", file=out)


def status(app: App, out: TextIO | None = None) -> int:
    """Print the report; 0 when all is well, 1 when something needs attention."""
    report = collect_status(app)
    print_status(report, out)
    return 0 if report.healthy else 1
