"""When digests are due: cron triggers per (schedule, time zone) group and the run key of each fire.

Everything here is a pure function of the config and a given instant, so DST days can be
tested by walking the trigger instead of waiting for the wall clock.

The run key is ``(f"{schedule}@{timezone}", period)`` where the period is the *local wall
clock* of the fire time: the date (``2026-11-26``) when the cron fires at most once a day
(a single minute and hour), else date and time (``2026-11-26T07:30``). Wall-clock keys are
what make DST safe: APScheduler fires a cron that falls in the repeated fall-back hour twice
(at +02:00 and again at +01:00), but both fires have the same wall clock and so the same key,
and the second claim of that key composes nothing. On the spring-forward day a time that
does not exist (02:30 in Berlin) still fires, an hour late by the clock on the wall, under
that day's key — nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from newsletter.config import Config
from newsletter.records import Subscriber


@dataclass(frozen=True)
class Group:
    """Subscribers of one schedule in one time zone: one cron job, one run key per period."""

    schedule: str
    timezone: str
    cron: str
    subscribers: tuple[Subscriber, ...]

    @property
    def key(self) -> str:
        return f"{self.schedule}@{self.timezone}"

    @property
    def job_id(self) -> str:
        return f"digest:{self.key}"

    def trigger(self) -> CronTrigger:
        return make_trigger(self.cron, self.timezone)

    def period(self, fire_time: datetime) -> str:
        return period_for(self.cron, fire_time)


def groups(config: Config) -> list[Group]:
    """One group per (schedule, subscriber time zone) that has at least one subscriber."""
    members: dict[tuple[str, str], list[Subscriber]] = {}
    for subscriber in config.subscribers:
        members.setdefault((subscriber.schedule, subscriber.timezone), []).append(subscriber)
    return [
        Group(schedule, tz, config.schedules[schedule], tuple(subs))
        for (schedule, tz), subs in sorted(members.items())
    ]


def make_trigger(cron: str, timezone: str) -> CronTrigger:
    """A 5-field cron evaluated on the wall clock of ``timezone`` (an explicit ZoneInfo)."""
    return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))


def once_a_day_at_most(cron: str) -> bool:
    minute, hour = cron.split()[:2]
    return minute.isdigit() and hour.isdigit()


def period_for(cron: str, fire_time: datetime) -> str:
    """The local wall-clock period a fire time belongs to (see the module docstring)."""
    if once_a_day_at_most(cron):
        return fire_time.strftime("%Y-%m-%d")
    return fire_time.strftime("%Y-%m-%dT%H:%M")


def fire_times(trigger: CronTrigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every fire time in ``[start, end]``, in order, as the scheduler would produce them."""
    previous: datetime | None = None
    moment = start
    while True:
        fire: datetime | None = trigger.get_next_fire_time(previous, moment)
        if fire is None or fire > end:
            return
        yield fire
        previous = moment = fire


def latest_fire(trigger: CronTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The most recent fire time at or before ``now`` and no older than ``within``."""
    latest = None
    for fire in fire_times(trigger, now - within, now):
        latest = fire
    return latest


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire
