"""Days as the site names them: ``YYYY-MM-DD`` in the newsletter's time zone."""

from __future__ import annotations

import re
from datetime import date, datetime

from newsletter.render import textutil

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
"""Days outside this range are not pages (and their bounds could not be computed)."""
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def parse_day(text: str) -> date | None:
    """The day a URL names, or None for anything but a real ``YYYY-MM-DD`` in range."""
    if not _DAY.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def long_day(day: date) -> str:
    """``Thursday, 26 November 2026`` (locale-independent)."""
    return f"{_WEEKDAYS[day.weekday()]}, {textutil.format_long_date(_midnight(day))}"


def short_day(day: date) -> str:
    """``26 Nov 2026``."""
    return textutil.format_date(_midnight(day))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)
