"""Checks for single values in the config: text, durations, time zones, cron expressions.

Each check raises ``ValueError`` with a message that says how to fix the value (the loader
puts ``file:line:`` in front) and bounds the value, so nothing a person writes can make a
later stage overflow, hang or write a header it should not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator

from newsletter.config.addresses import excerpt

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_ID = 64
MAX_LINE = 200
"""Characters of a title or a name: it goes into subjects, headers and page titles."""
MAX_TEXT = 2000
"""Characters of a query, an ``about:`` text, a URL or a path."""


# -- text --------------------------------------------------------------------------------


def no_newlines(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line — remove the line break")
    return value


def _line_of_at_most(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        no_newlines(value)
        if not value:
            raise ValueError("is empty — write something or remove the key")
        if len(value) > limit:
            raise ValueError(f"is {len(value):,} characters long; at most {limit} — shorten it")
        return value

    return check


def _text_of_at_most(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"is {len(value):,} characters long; at most {limit:,} — shorten it")
        return value

    return check


def check_id(value: str) -> str:
    if len(value) > MAX_ID or not ID_RE.match(value):
        raise ValueError(
            f"{excerpt(value)} must be up to {MAX_ID} letters, digits, '-', '_' or '.' "
            "(starting with a letter or digit) — e.g. speech-synthesis"
        )
    return value


SingleLine = Annotated[str, AfterValidator(_line_of_at_most(MAX_LINE))]
"""Text that ends up in a mail header or a page title: one line, 1–200 characters."""
Text = Annotated[str, AfterValidator(_text_of_at_most(MAX_TEXT))]
"""Free text (a query, a description): line breaks allowed, at most 2,000 characters."""
LongLine = Annotated[str, AfterValidator(_line_of_at_most(MAX_TEXT))]
"""A URL or a path: one line, at most 2,000 characters."""


# -- time zones --------------------------------------------------------------------------


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {excerpt(value)} — use an IANA name such as Europe/Berlin or UTC"
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(check_timezone)]


# -- cron --------------------------------------------------------------------------------

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MAX_CRON = 100


def _crontab_weekdays(field: str) -> str:
    """Crontab day-of-week numbers (0 or 7 = Sunday) as names: APScheduler 3 counts from Monday."""
    parts = []
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if (span == "*" and not step_text) or any(c.isalpha() for c in span):
            parts.append(part)
            continue
        step = int(step_text) if step_text.isdigit() else 1
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, _, high = span.partition("-")
            first, last = int(low), int(high)
        else:
            first = int(span)
            last = 7 if step_text else first
        if not 0 <= first <= last <= 7 or step < 1:
            raise ValueError(f"day of week {part!r} must be 0-7 (0 and 7 are Sunday) or a name")
        parts.extend(_CRON_DAYS[day % 7] for day in range(first, last + 1, step))
    return ",".join(dict.fromkeys(parts))


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A standard 5-field crontab (Sunday is 0 or 7) as an APScheduler trigger in ``timezone``."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields: {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekday),
        timezone=ZoneInfo(timezone),
    )


def check_cron(expression: str) -> str:
    fields = expression.split()
    if len(fields) != 5 or len(expression) > MAX_CRON:
        raise ValueError(
            f"{excerpt(expression)} is not a 5-field cron expression "
            "— write minute hour day-of-month month day-of-week, e.g. '0 7 * * 1-5'"
        )
    try:
        cron_trigger(expression, "UTC")
    except ValueError as exc:
        raise ValueError(
            f"bad cron expression {expression!r} ({exc}) — e.g. '0 7 * * *' for 07:00 every day"
        ) from None
    return expression


CronExpression = Annotated[str, AfterValidator(check_cron)]


# -- durations ---------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=3650)
"""No duration in the config means anything beyond ten years (and timedelta overflows)."""
MAX_INTERVAL = timedelta(days=7)
"""Longest ``fetch_every``: a feed fetched less than weekly is as good as forgotten."""
MAX_GRACE = timedelta(days=7)
"""Longest ``catch_up``: the longest period between two digests of a weekly schedule."""


def parse_duration(text: str, maximum: timedelta = MAX_DURATION) -> timedelta:
    """``"30m"``, ``"6h"``, ``"1h30m"``, ``"90s"``, ``"1d"`` → timedelta; ValueError otherwise
    (also when longer than ``maximum``, checked before any big number is built)."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact) if len(compact) <= 40 else []
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"{excerpt(text)} is not a duration — write a number and a unit (s, m, h, d), "
            "e.g. 30m, 6h or 1h30m"
        )
    limit = int(maximum.total_seconds())
    too_long = ValueError(f"{excerpt(text)} is too long — at most {_shown(maximum)}")
    if any(len(n.lstrip("0")) > len(str(limit)) for n, _ in parts):
        raise too_long
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds > limit:
        raise too_long
    return timedelta(seconds=seconds)


def _shown(span: timedelta) -> str:
    return f"{span.days}d" if span.days else f"{int(span.total_seconds()) // 60}m"


def check_interval(text: str) -> str:
    """A fetch interval: at least a minute, so a typo cannot hammer a publisher."""
    if parse_duration(text, MAX_INTERVAL) < timedelta(minutes=1):
        raise ValueError(f"{excerpt(text)} is too short — fetch at most once a minute, e.g. 30m")
    return text


def check_grace(text: str) -> str:
    parse_duration(text, MAX_GRACE)
    return text


Interval = Annotated[str, AfterValidator(check_interval)]
Grace = Annotated[str, AfterValidator(check_grace)]
