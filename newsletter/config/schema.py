"""The shape of the two YAML files, validated with pydantic.

Validators raise ``ValueError`` with a message that says how to fix the value;
the loader adds ``file:line:`` in front.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

EMAIL_RE = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def no_newlines(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line — remove the line break")
    return value


SingleLine = Annotated[str, AfterValidator(no_newlines)]
"""Text that ends up in a mail header or a page title: a line break there is never meant."""


def check_email(value: str) -> str:
    no_newlines(value)
    if not EMAIL_RE.match(value):
        raise ValueError(f"{value!r} is not a valid email address — write it as name@example.org")
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} — use an IANA name such as Europe/Berlin or UTC"
        ) from None
    return value


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


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
    if len(fields) != 5:
        raise ValueError(
            f"{expression!r} is not a 5-field cron expression "
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

_DURATION_PART = re.compile(r"(\d+)\s*([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"6h"``, ``"1h30m"``, ``"90s"``, ``"1d"`` → timedelta; ValueError otherwise."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"{text!r} is not a duration — write a number and a unit (s, m, h, d), "
            "e.g. 30m, 6h or 1h30m"
        )
    return timedelta(seconds=sum(int(n) * _DURATION_UNITS[u] for n, u in parts))


def check_interval(text: str) -> str:
    """A fetch interval: at least a minute, so a typo cannot hammer a publisher."""
    if parse_duration(text) < timedelta(minutes=1):
        raise ValueError(f"{text!r} is too short — fetch at most once a minute, e.g. 30m")
    return text


def check_grace(text: str) -> str:
    parse_duration(text)
    return text


Interval = Annotated[str, AfterValidator(check_interval)]
Grace = Annotated[str, AfterValidator(check_grace)]


class FeedModel(Strict):
    name: str
    url: str
    type: Literal["feed", "arxiv", "hf-daily-papers"] = "feed"
    announce_types: tuple[str, ...] = ("new", "cross")
    fetch_every: Interval | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("a feed needs a non-empty name — e.g. name: arxiv-cs-lg")
        return no_newlines(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value:
            raise ValueError("a feed needs a url — an http(s):// URL or a local file path")
        if "://" in value and not value.startswith(("http://", "https://", "file://")):
            raise ValueError(
                f"unsupported URL scheme in {value!r} — "
                "use http://, https://, file:// or a file path"
            )
        return value


class DigestModel(Strict):
    max_items: Annotated[int, Field(ge=1, le=1000)] = 25
    lookback_days: Annotated[int, Field(ge=1, le=365)] = 7
    updates: Literal["list", "skip"] = "list"


class NewsletterModel(Strict):
    title: SingleLine
    sender: str
    base_url: str
    database: str = "sqlite:///state/newsletter.db"
    subscribers: str = "subscribers.yaml"
    feeds: list[FeedModel] = Field(default_factory=list)
    schedules: dict[str, CronExpression] = Field(default_factory=lambda: {"daily": "0 7 * * *"})
    digest: DigestModel = Field(default_factory=DigestModel)
    timezone: str = "UTC"
    templates: str | None = None
    fetch_every: Interval = "30m"
    catch_up: Grace = "6h"
    log_format: Literal["key=value", "json"] = "key=value"

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        from email.utils import parseaddr

        no_newlines(value)
        _name, address = parseaddr(value)
        if not address or not EMAIL_RE.match(address):
            raise ValueError(
                f"{value!r} is not an RFC 5322 address — "
                "write it as: Paper Digest <digest@example.org>"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        no_newlines(value)
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{value!r} is not an absolute http(s) URL — e.g. https://digest.example.org/"
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("schedules")
    @classmethod
    def _schedules(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ID_RE.match(str(name)):
                raise ValueError(f"schedule name {name!r} must be letters, digits, '-', '_' or '.'")
        return value

    @field_validator("feeds")
    @classmethod
    def _unique_feeds(cls, value: list[FeedModel]) -> list[FeedModel]:
        seen: set[str] = set()
        for feed in value:
            if feed.name in seen:
                raise ValueError(f"two feeds are named {feed.name!r} — give each feed its own name")
            seen.add(feed.name)
        return value


class TopicModel(Strict):
    title: SingleLine
    query: str | None = None
    about: str | None = None
    threshold: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    require: Literal["either", "both"] = "either"
    # How query words are reduced (the matcher's docs/matching.md): plural or snowball.
    stemming: Literal["plural", "snowball"] = "plural"

    @field_validator("stemming", mode="before")
    @classmethod
    def _stemming(cls, value: object) -> object:
        if value not in ("plural", "snowball"):
            raise ValueError(
                f"{str(value)[:40]!r} is not a stemming — use plural (the default: "
                "plurals fold, transformers = transformer) or snowball (words are stemmed, "
                "transformer = transform)"
            )
        return value

    @model_validator(mode="after")
    def _needs_query_or_about(self) -> TopicModel:
        if not self.query and not self.about:
            raise ValueError("a topic needs query: (keywords) or about: (plain words) — add one")
        return self


class SubscriberModel(Strict):
    email: str
    name: SingleLine | None = None
    schedule: str = "daily"
    timezone: str | None = None
    topics: list[str | TopicModel]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str | TopicModel]) -> list[str | TopicModel]:
        if not value:
            raise ValueError(
                "a subscriber needs at least one topic — list topic ids or {title, query}"
            )
        return value


class SubscribersModel(Strict):
    """The file's outline only; each topic and subscriber is validated on its own so that
    one bad entry does not hide the problems of the others."""

    topics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    subscribers: list[dict[str, Any]] = Field(default_factory=list)
