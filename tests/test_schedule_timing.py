"""Fire times and run keys on ordinary and DST days, walked with the real APScheduler trigger."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from newsletter.config import ConfigError, load_config
from newsletter.config.schema import parse_duration
from newsletter.schedule.timing import (
    Group,
    fire_times,
    groups,
    latest_fire,
    make_trigger,
    period_for,
)
from tests.conftest import MAIN_YAML, Project


def local_day_fires(cron: str, tz: str, first: str, days: float) -> list[datetime]:
    """Fire times from local ``first`` for ``days`` (end excluded)."""
    zone = ZoneInfo(tz)
    start = datetime.fromisoformat(first).replace(tzinfo=zone)
    end = start + timedelta(days=days) - timedelta(microseconds=1)
    return list(fire_times(make_trigger(cron, tz), start, end))


# (tz, transition day, the cron times around it that are the awkward ones)
DST_DAYS = [
    ("Europe/Berlin", "2026-03-29", "spring-forward"),
    ("Europe/Berlin", "2026-10-25", "fall-back"),
    ("America/New_York", "2026-03-08", "spring-forward"),
    ("America/New_York", "2026-11-01", "fall-back"),
]


@pytest.mark.parametrize(("tz", "day", "kind"), DST_DAYS)
@pytest.mark.parametrize("cron", ["0 7 * * *", "30 2 * * *", "30 1 * * *", "0 0 * * *"])
def test_daily_cron_has_exactly_one_period_per_local_day_across_dst(
    tz: str, day: str, kind: str, cron: str
) -> None:
    first = (datetime.fromisoformat(day) - timedelta(days=2)).isoformat()
    fires = local_day_fires(cron, tz, first, days=5)
    group = Group("daily", tz, cron, ())
    periods = Counter(group.period(fire) for fire in fires)
    assert all(count == 1 for count in periods.values())
    expected = [
        (datetime.fromisoformat(first) + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(5)
    ]
    assert sorted(periods) == expected  # no day skipped, none invented
    instants = [f.astimezone(UTC) for f in fires]
    assert instants == sorted(instants)
    assert len(set(instants)) == len(instants)


def test_fall_back_repeated_time_fires_once_at_its_first_occurrence() -> None:
    fires = local_day_fires("30 2 * * *", "Europe/Berlin", "2026-10-25T00:00", days=1)
    assert [f.isoformat() for f in fires] == ["2026-10-25T02:30:00+02:00"]
    ny = local_day_fires("30 1 * * *", "America/New_York", "2026-11-01T00:00", days=1)
    assert [f.isoformat() for f in ny] == ["2026-11-01T01:30:00-04:00"]


def test_apschedulers_own_cron_trigger_doubles_and_skips_which_is_why_we_wrap_it() -> None:
    # Documents the behaviour WallClockCron exists for; if APScheduler fixes it, this fails
    # and the wrapper can go.
    berlin = ZoneInfo("Europe/Berlin")
    plain = CronTrigger(minute="30", hour="2", timezone=berlin)
    start = datetime(2026, 10, 25, tzinfo=berlin)
    fires = list(fire_times(plain, start, start + timedelta(hours=23)))
    assert len(fires) == 2 and {period_for("30 2 * * *", f) for f in fires} == {"2026-10-25"}
    ny = ZoneInfo("America/New_York")
    midnight = CronTrigger(minute="0", hour="0", timezone=ny)
    start = datetime(2026, 3, 8, tzinfo=ny)
    days = [f.day for f in fire_times(midnight, start, start + timedelta(days=2, hours=1))]
    assert days == [8, 10]  # the 9th is skipped


def test_a_second_fire_of_the_same_wall_time_maps_to_the_same_key() -> None:
    group = Group("daily", "Europe/Berlin", "30 2 * * *", ())
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    assert group.period(first) == group.period(second) == "2026-10-25"


def test_spring_forward_time_that_does_not_exist_still_fires_that_day() -> None:
    (fire,) = local_day_fires("30 2 * * *", "Europe/Berlin", "2026-03-29T00:00", days=1)
    assert fire.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert period_for("30 2 * * *", fire) == "2026-03-29"
    (ny,) = local_day_fires("30 2 * * *", "America/New_York", "2026-03-08T00:00", days=1)
    assert ny.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert period_for("30 2 * * *", ny) == "2026-03-08"


def test_local_seven_oclock_moves_in_utc_with_dst() -> None:
    fires = local_day_fires("0 7 * * *", "Europe/Berlin", "2026-03-28T00:00", days=2)
    assert [f.astimezone(UTC).hour for f in fires] == [6, 5]
    fires = local_day_fires("0 7 * * *", "America/New_York", "2026-10-31T00:00", days=2)
    assert [f.astimezone(UTC).hour for f in fires] == [11, 12]


def test_sub_daily_cron_fires_each_real_half_hour_once_across_fall_back() -> None:
    group = Group("often", "Europe/Berlin", "*/30 * * * *", ())
    start = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # 01:00 CEST
    fires = list(fire_times(group.trigger(), start, start + timedelta(hours=3, minutes=59)))
    keys = [group.period(f) for f in fires]
    assert len(keys) == len(set(keys))
    assert keys == [
        "2026-10-25T01:00",
        "2026-10-25T01:30",
        "2026-10-25T02:00",
        "2026-10-25T02:30",
        # 02:00 and 02:30 CET come round again; their keys are taken, they do not fire
        "2026-10-25T03:00",
        "2026-10-25T03:30",
    ]


def test_sub_daily_cron_across_spring_forward_skips_no_real_time() -> None:
    group = Group("often", "Europe/Berlin", "*/30 * * * *", ())
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 01:00 CET
    fires = list(fire_times(group.trigger(), start, start + timedelta(hours=2)))
    instants = [f.astimezone(UTC) for f in fires]  # aware subtraction in one zone is naive
    gaps = {b - a for a, b in itertools.pairwise(instants)}
    assert gaps == {timedelta(minutes=30)}
    assert [group.period(f) for f in fires] == [
        "2026-03-29T01:00",
        "2026-03-29T01:30",
        "2026-03-29T02:00",  # 02:00 does not exist on the wall; it fires at 03:00 CEST
        "2026-03-29T02:30",
        "2026-03-29T04:00",
    ]


def test_weekly_cron_uses_the_date_as_period() -> None:
    fires = local_day_fires("0 8 * * 1", "Asia/Tokyo", "2026-11-23T00:00", days=14)
    assert [period_for("0 8 * * 1", f) for f in fires] == ["2026-11-23", "2026-11-30"]


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        ("1", ["Mon"]),
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("0,6", ["Sat", "Sun"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("sat,sun", ["Sat", "Sun"]),
        ("*", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ],
)
def test_day_of_week_reads_like_crontab_where_sunday_is_zero(
    weekday: str, expected: list[str]
) -> None:
    cron = f"0 8 * * {weekday}"
    fires = local_day_fires(cron, "UTC", "2026-11-23T00:00", days=7)  # Monday to Sunday
    assert sorted(f.strftime("%a") for f in fires) == sorted(expected)


def test_latest_fire_respects_the_window() -> None:
    trigger = make_trigger("0 7 * * *", "UTC")
    now = datetime(2026, 11, 26, 12, 59, tzinfo=UTC)
    assert latest_fire(trigger, now, timedelta(hours=6)) == datetime(2026, 11, 26, 7, tzinfo=UTC)
    assert latest_fire(trigger, now, timedelta(hours=5)) is None
    at_fire = datetime(2026, 11, 26, 7, tzinfo=UTC)
    assert latest_fire(trigger, at_fire, timedelta(hours=1)) == at_fire


SUBS_TZ = """\
subscribers:
  - email: alice@example.org
    timezone: Europe/Berlin
    topics: [{title: SSL, query: self-supervised}]
  - email: bob@example.org
    timezone: America/New_York
    topics: [{title: SSL, query: self-supervised}]
  - email: carol@example.org
    topics: [{title: SSL, query: self-supervised}]
  - email: dave@example.org
    timezone: Europe/Berlin
    schedule: weekly
    topics: [{title: SSL, query: self-supervised}]
"""


def test_groups_split_each_schedule_by_subscriber_time_zone(project: Project) -> None:
    project.write(
        MAIN_YAML.replace('  daily: "0 7 * * *"\n', '  daily: "0 7 * * *"\n  weekly: "0 8 * * 1"\n')
        + "timezone: Asia/Tokyo\n",
        SUBS_TZ,
    )
    found = {g.key: [s.email for s in g.subscribers] for g in groups(load_config(project.config))}
    assert found == {
        "daily@America/New_York": ["bob@example.org"],
        "daily@Asia/Tokyo": ["carol@example.org"],  # the newsletter's default time zone
        "daily@Europe/Berlin": ["alice@example.org"],
        "weekly@Europe/Berlin": ["dave@example.org"],
    }


def test_schedule_settings_have_defaults_and_are_validated(project: Project) -> None:
    config = load_config(project.config)
    assert config.fetch_every == timedelta(minutes=30)
    assert config.catch_up == timedelta(hours=6)
    assert config.log_format == "key=value"
    project.write(
        MAIN_YAML.replace("    url: sample-feed.atom\n", "    url: x.atom\n    fetch_every: 10s\n")
        + "catch_up: soon\nlog_format: xml\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(project.config)
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "newsletter.yaml:8:" in text and "too short" in text
    assert "'soon' is not a duration" in text
    assert "log_format" in text


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "30", "m", "1x", "1h 30"):
        with pytest.raises(ValueError):
            parse_duration(bad)
