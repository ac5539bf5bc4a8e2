"""`newsletter status`: where things stand, read from the config and the database alone.

It works whether or not the daemon is running (it does not talk to it): next run times come
from the cron of each (schedule, time zone) group, the rest from the ``runs``, ``feeds`` and
``outbox`` tables. Exit 1 means something needs a person: a feed failing for 3 fetches in a
row or disabled, a digest overdue (is the daemon running?), messages deferred, the last
run of a schedule ending incomplete, the relay paused, or the last week's bounce or
complaint rate past what mailbox providers tolerate.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from newsletter.app import App
from newsletter.records import OutboxStatus, RunStatus
from newsletter.report import table
from newsletter.run import feed_specs
from newsletter.schedule.timing import groups, latest_fire, next_fire
from newsletter.sources import FeedHealth, feed_health
from newsletter.store import DeliveryRates, RelayPause, RunTally
from newsletter.subscriptions import roster

OVERDUE_AFTER = timedelta(minutes=15)
"""A fire time this old with no run means no daemon sent it."""
RATES_OVER = timedelta(days=7)
MAX_BOUNCE_RATE = 0.05
"""Bounces per message handed to the relay; past this, providers start to distrust a sender."""
MAX_COMPLAINT_RATE = 0.003
"""Complaints per message sent: Gmail's and Yahoo's bulk-sender limit is 0.3 %."""


@dataclass(frozen=True)
class GroupStatus:
    key: str
    cron: str
    subscribers: int
    next_run: datetime | None
    last_period: str | None
    last_status: RunStatus | None
    last_tally: RunTally | None
    last_finished: datetime | None
    overdue: str | None = None


@dataclass(frozen=True)
class FeedStatus:
    name: str
    health: FeedHealth
    last_fetch: datetime | None


@dataclass
class StatusReport:
    now: datetime
    groups: list[GroupStatus] = field(default_factory=list)
    feeds: list[FeedStatus] = field(default_factory=list)
    outbox: dict[OutboxStatus, int] = field(default_factory=dict)
    relay_pause: RelayPause | None = None
    rates: DeliveryRates = field(default_factory=DeliveryRates)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def collect_status(app: App) -> StatusReport:
    now = app.now()
    report = StatusReport(now=now)
    runs = app.store.last_runs()
    for group in groups(app.config, roster(app.config, app.store, app.now()).receiving()):
        trigger = group.trigger()
        last = runs.get(group.key)
        due = latest_fire(trigger, now, app.config.catch_up)
        overdue = None
        missed = due is not None and (last is None or last.period != group.period(due))
        if due is not None and missed and now - due >= OVERDUE_AFTER:
            overdue = f"{group.period(due)} was due at {due:%Y-%m-%d %H:%M %Z} and has not run"
            report.problems.append(f"schedule {group.key}: {overdue} — is `newsletter run` up?")
        if last is not None and (last.tally.deferred or last.tally.failed):
            report.problems.append(
                f"schedule {group.key}: last run {last.period} ended {last.status} "
                f"({last.tally.deferred} deferred, {last.tally.failed} failed)"
            )
        report.groups.append(
            GroupStatus(
                key=group.key,
                cron=group.cron,
                subscribers=len(group.subscribers),
                next_run=next_fire(trigger, now),
                last_period=last.period if last else None,
                last_status=last.status if last else None,
                last_tally=last.tally if last else None,
                last_finished=last.finished_at if last else None,
                overdue=overdue,
            )
        )
    stored = app.store.stored_feeds()
    for spec in feed_specs(app.config):
        found = stored.get(spec.name)
        feed = FeedStatus(
            name=spec.name,
            health=feed_health(found.state_for(spec.url) if found else None),
            last_fetch=found.last_fetch if found else None,
        )
        report.feeds.append(feed)
        if feed.health.needs_attention:
            report.problems.append(f"feed {feed.name}: {feed.health}")
    report.outbox = dict(app.store.outbox_counts())
    deferred = report.outbox.get(OutboxStatus.DEFERRED)
    if deferred:
        report.problems.append(
            f"{deferred} messages deferred — the relay refuses or is "
            "unreachable; they are retried with backoff"
        )
    report.relay_pause = pause = app.store.relay_pause()
    if pause is not None:
        report.problems.append(
            f"delivery paused since {_when(pause.since)} ({pause.pauses} "
            f"pause{'s' if pause.pauses != 1 else ''} in a row, next try after "
            f"{_when(pause.until)}): {pause.reason}"
        )
    report.rates = rates = app.store.delivery_rates(now - RATES_OVER)
    if rates.bounced and rates.bounce_rate >= MAX_BOUNCE_RATE:
        report.problems.append(
            f"bounce rate {_percent(rates.bounce_rate)} over the last 7 days (at most "
            f"{_percent(MAX_BOUNCE_RATE)} is safe) — see `subscribers` for who bounces"
        )
    if rates.complaints and rates.complaint_rate >= MAX_COMPLAINT_RATE:
        report.problems.append(
            f"complaint rate {_percent(rates.complaint_rate)} over the last 7 days (Gmail and "
            f"Yahoo want under {_percent(MAX_COMPLAINT_RATE)}) — are readers expecting this mail?"
        )
    return report


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f} %" if rate >= 0.01 else f"{rate * 100:.2f} %"


def _when(moment: datetime | None, tz: str | None = None) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(tz)) if tz else moment.astimezone(UTC)
    return local.strftime("%Y-%m-%d %H:%M %Z")


def _outcome(group: GroupStatus) -> str:
    if group.last_period is None or group.last_tally is None:
        return "never run"
    t = group.last_tally
    counts = f"{t.composed} composed, {t.sent} sent, {t.deferred} deferred, {t.failed} failed"
    return f"{group.last_period}: {group.last_status} ({counts})"


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
            [(f.name, str(f.health), _when(f.last_fetch)) for f in report.feeds],
            out,
        )
    else:
        print("No feeds configured.", file=out)
    print("", file=out)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.outbox.items())) or "empty"
    print(f"Outbox: {counts}", file=out)
    if report.relay_pause is not None:
        pause = report.relay_pause
        print(f"Relay: paused until {_when(pause.until)}: {pause.reason}", file=out)
    else:
        print("Relay: delivering", file=out)
    rates = report.rates
    print(
        f"Last 7 days: {rates.sent} sent, {rates.bounced} bounced "
        f"({_percent(rates.bounce_rate)} of {rates.attempted}), {rates.complaints} complaints "
        f"({_percent(rates.complaint_rate)} of {rates.sent})",
        file=out,
    )
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
