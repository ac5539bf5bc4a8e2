"""When digests are due: cron triggers per (schedule, time zone) group and the run key of each fire.

Everything here is a pure function of the config and a given instant, so DST days are
tested by walking the trigger instead of waiting for the wall clock.

The run key is ``(f"{schedule}@{timezone}", period)``; the period is the *local wall-clock*
slot of the fire: the date (``2026-11-26``) when the cron fires at most once a day (a single
minute and hour), else date and time (``2026-11-26T07:30``). A cron time in the repeated
fall-back hour fires once (:class:`WallClockCron`), and should anything fire it again — a
second daemon, a restart — the second fire has the same wall clock, so the same key, and
its claim composes nothing. A time in the spring-forward gap (02:30 in Berlin on
2026-03-29) fires an hour later by the wall clock, under that day's key: nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from newsletter.config import Config
from newsletter.config.schema import cron_trigger
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

    def trigger(self) -> WallClockCron:
        return make_trigger(self.cron, self.timezone)

    def period(self, fire_time: datetime) -> str:
        """The run key's period for a fire time of this group's trigger."""
        return period_for(self.cron, self.trigger().wall_slot(fire_time))


def groups(config: Config, subscribers: Sequence[Subscriber] | None = None) -> list[Group]:
    """One group per (schedule, subscriber time zone) that has at least one subscriber
    (``subscribers`` default to the YAML ones; the daemon passes the whole roster)."""
    members: dict[tuple[str, str], list[Subscriber]] = {}
    for subscriber in config.subscribers if subscribers is None else subscribers:
        members.setdefault((subscriber.schedule, subscriber.timezone), []).append(subscriber)
    return [
        Group(schedule, tz, config.schedules[schedule], tuple(subs))
        for (schedule, tz), subs in sorted(members.items())
    ]


class WallClockCron(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """A 5-field crontab fired on the wall clock of an explicit ZoneInfo, safe across DST.

    The cron is evaluated on naive wall-clock time (as if in UTC, which has no DST) and each
    wall time is then placed in the zone: a time in the repeated fall-back hour fires once, at
    its first occurrence; a time in the spring-forward gap fires at the same distance past
    the transition (02:30 → 03:30 CEST). APScheduler's own ``CronTrigger`` in a DST zone fires
    the repeated hour twice and, in 3.11.3, skips a midnight fire on the day after spring
    forward (America/New_York, 2026-03-09) — the tests walk both days.
    """

    def __init__(self, cron: str, timezone: str) -> None:
        self.cron = cron
        self.zone = ZoneInfo(timezone)
        self._wall = cron_trigger(cron, "UTC")

    def _instant(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self.zone).astimezone(UTC).astimezone(self.zone)

    def _wall_after(self, wall: datetime, *, strictly: bool) -> datetime | None:
        as_utc = wall.replace(tzinfo=UTC)
        found: datetime | None = self._wall.get_next_fire_time(as_utc if strictly else None, as_utc)
        return None if found is None else found.replace(tzinfo=None)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time + timedelta(microseconds=1) if previous_fire_time else now
        wall = self._wall_after(after.astimezone(self.zone).replace(tzinfo=None), strictly=False)
        while wall is not None:
            instant = self._instant(wall)
            if instant >= after:
                return instant
            wall = self._wall_after(wall, strictly=True)
        return None

    def wall_slot(self, fire: datetime) -> datetime:
        """The wall-clock time on the cron that ``fire`` stands for (differs only in a DST gap)."""
        local = fire.astimezone(self.zone).replace(tzinfo=None)
        wall = self._wall_after(local - timedelta(hours=3), strictly=False)
        while wall is not None and wall <= local:
            if self._instant(wall) == fire:
                return wall
            wall = self._wall_after(wall, strictly=True)
        return local

    def __str__(self) -> str:
        return f"cron[{self.cron!r} in {self.zone.key}]"


def make_trigger(cron: str, timezone: str) -> WallClockCron:
    return WallClockCron(cron, timezone)


def once_a_day_at_most(cron: str) -> bool:
    minute, hour = cron.split()[:2]
    return minute.isdigit() and hour.isdigit()


def period_for(cron: str, wall: datetime) -> str:
    """The period of a local wall-clock fire time (see the module docstring)."""
    if once_a_day_at_most(cron):
        return wall.strftime("%Y-%m-%d")
    return wall.strftime("%Y-%m-%dT%H:%M")


def fire_times(trigger: WallClockCron, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every fire time in ``[start, end]``, in order, as the scheduler would produce them."""
    previous: datetime | None = None
    moment = start
    while True:
        fire: datetime | None = trigger.get_next_fire_time(previous, moment)
        if fire is None or fire > end:
            return
        yield fire
        previous = moment = fire


def latest_fire(trigger: WallClockCron, now: datetime, within: timedelta) -> datetime | None:
    """The most recent fire time at or before ``now`` and no older than ``within``."""
    latest = None
    for fire in fire_times(trigger, now - within, now):
        latest = fire
    return latest


def next_fire(trigger: WallClockCron, now: datetime) -> datetime | None:
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire
