"""The shape of the two YAML files, validated with pydantic.

Validators raise ``ValueError`` with a message that says how to fix the value; the loader
adds ``file:line:`` in front. Every number has a range and every string a length, so no
value can overflow or stall a later stage; the characters themselves are checked for the
whole file by :mod:`newsletter.config.yamlmarks`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from newsletter.config.addresses import (
    MAX_LOCAL_OCTETS,
    excerpt,
    validate_address,
    validate_domain,
    validate_sender,
)
from newsletter.config.values import (
    CronExpression,
    Grace,
    Interval,
    LongLine,
    SingleLine,
    Text,
    TimeZone,
    check_id,
    check_timezone,
    cron_trigger,
    no_newlines,
    parse_duration,
)

__all__ = [  # the models, and the value types and checks other modules know from here
    "AnnounceType",
    "CronExpression",
    "DeliveryModel",
    "DigestModel",
    "FeedModel",
    "FeedType",
    "Grace",
    "Interval",
    "LogFormat",
    "NewsletterModel",
    "Require",
    "SingleLine",
    "Strict",
    "SubscribeModel",
    "SubscriberModel",
    "SubscribersModel",
    "TopicModel",
    "UpdatesMode",
    "check_timezone",
    "cron_trigger",
    "no_newlines",
    "parse_duration",
]

FeedType = Literal["feed", "arxiv", "hf-daily-papers"]
AnnounceType = Literal["new", "cross", "replace", "replace-cross"]
UpdatesMode = Literal["list", "skip"]
LogFormat = Literal["key=value", "json"]
Require = Literal["either", "both"]

TRENDING_ID = "trending"
"""The built-in topic: the most popular papers of the period, defined by no one."""
TRENDING_TITLE = "Trending"
TRENDING_DEFAULT = 10
"""How many papers the built-in ``trending`` topic holds."""

VERP_TOKEN = 16
"""Characters of the token in a VERP envelope sender ``local+token@domain``."""
MAX_FOOTER_LINES = 5
MAX_FOOTER_CHARS = 500
MAX_TOPICS_PER_SUBSCRIBER = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Domain = Annotated[str, AfterValidator(validate_domain)]


class FeedModel(Strict):
    name: str
    url: LongLine
    type: FeedType = "feed"
    announce_types: tuple[str, ...] = ("new", "cross")
    """Values of :data:`AnnounceType` (typed ``str`` so the pipeline can add revision types)."""
    fetch_every: Interval | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("a feed needs a non-empty name — e.g. name: arxiv-cs-lg")
        if len(value) > 100:
            raise ValueError("a feed name may be at most 100 characters — shorten it")
        return no_newlines(value)

    @field_validator("announce_types")
    @classmethod
    def _announce_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = get_args(AnnounceType)
        wrong = [kind for kind in value if kind not in known]
        if wrong or not value:
            raise ValueError(
                f"announce_types: {', '.join(map(excerpt, wrong)) or 'empty'} — list one or "
                f"more of {', '.join(known)}"
            )
        return tuple(dict.fromkeys(value))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if "://" in value:
            if not value.startswith(("http://", "https://", "file://")):
                raise ValueError(
                    f"unsupported URL scheme in {excerpt(value)} — "
                    "use http://, https://, file:// or a file path"
                )
            if any(char.isspace() for char in value):
                raise ValueError(
                    f"{excerpt(value)} contains a space — write spaces in a URL as %20"
                )
        return value


class DigestModel(Strict):
    max_items: Annotated[StrictInt, Field(ge=1, le=1000)] = 25
    lookback_days: Annotated[StrictInt, Field(ge=1, le=365)] = 7
    updates: UpdatesMode = "list"


class SubscribeModel(Strict):
    """Public sign-up on the web (double opt-in)."""

    enabled: StrictBool = False
    allowed_domains: Annotated[tuple[Domain, ...], Field(max_length=1000)] = ()
    """Only addresses at these domains may sign up (ASCII, lower case); empty = any."""
    max_subscribers: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = 0
    """Sign-ups stop at this many web subscribers; 0 = no cap."""
    confirm_hours: Annotated[StrictInt, Field(ge=1, le=720)] = 48
    """How long a confirmation link stays valid."""

    @field_validator("allowed_domains")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


class DeliveryModel(Strict):
    max_consecutive_errors: Annotated[StrictInt, Field(ge=1, le=10_000)] = 20
    """Relay refusals in a row after which a run pauses."""


class NewsletterModel(Strict):
    title: SingleLine
    sender: str
    base_url: LongLine
    database: LongLine = "sqlite:///state/newsletter.db"
    subscribers: LongLine = "subscribers.yaml"
    feeds: Annotated[list[FeedModel], Field(max_length=1000)] = Field(default_factory=list)
    schedules: Annotated[dict[str, CronExpression], Field(max_length=100)] = Field(
        default_factory=lambda: {"daily": "0 7 * * *"}
    )
    digest: DigestModel = Field(default_factory=DigestModel)
    timezone: TimeZone = "UTC"
    templates: LongLine | None = None
    fetch_every: Interval = "30m"
    catch_up: Grace = "6h"
    log_format: LogFormat = "key=value"
    fetch_private_addresses: StrictBool = False
    footer: str | None = None
    archive_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 90
    public_site: StrictBool = True
    trusted_proxies: Annotated[StrictInt, Field(ge=0, le=10)] = 0
    subscribe: SubscribeModel = Field(default_factory=SubscribeModel)
    bounce_address: str | None = None
    delivery: DeliveryModel = Field(default_factory=DeliveryModel)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return validate_sender(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        example = "— e.g. https://digest.example.org/"
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError(f"{excerpt(value)} is not a valid URL {example}") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{excerpt(value)} is not an absolute http(s) URL {example}")
        if any(char.isspace() for char in value) or "@" in parts.netloc:
            raise ValueError(f"{excerpt(value)} must not hold spaces or a user name {example}")
        if parts.query or parts.fragment:
            raise ValueError(
                f"{excerpt(value)} has a ?query or #fragment, but links are built under this "
                f"URL {example}"
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("schedules")
    @classmethod
    def _schedules(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            try:
                check_id(str(name))
            except ValueError as exc:
                raise ValueError(f"schedule name {exc}") from None
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

    @field_validator("footer")
    @classmethod
    def _footer(cls, value: str | None) -> str | None:
        """A line or a few (a postal address) under every digest; empty means none."""
        if value is None:
            return None
        lines = [line.rstrip() for line in value.strip().splitlines()]
        if len(lines) > MAX_FOOTER_LINES or len(value) > MAX_FOOTER_CHARS:
            raise ValueError(
                f"is {len(lines)} lines and {len(value)} characters; at most "
                f"{MAX_FOOTER_LINES} lines and {MAX_FOOTER_CHARS} characters — shorten it"
            )
        return "\n".join(lines) or None

    @field_validator("bounce_address")
    @classmethod
    def _bounce_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = validate_address(value)
        room = MAX_LOCAL_OCTETS - 1 - VERP_TOKEN
        local = address.rpartition("@")[0]
        if len(local) > room:
            raise ValueError(
                f"the part before the @ of {excerpt(address)} is {len(local)} characters; "
                f"bounces are addressed to local+<{VERP_TOKEN}-character token>@domain, so "
                f"it may be at most {room} — use a shorter one, e.g. bounces@example.org"
            )
        return address


class TopicModel(Strict):
    title: SingleLine | None = None
    query: Text | None = None
    about: Text | None = None
    threshold: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    require: Require = "either"
    # How query words are reduced (the matcher's docs/matching.md): plural or snowball.
    stemming: Literal["plural", "snowball"] = "plural"
    trending: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    """The N most popular papers (``query:``/``about:`` then only narrow them down)."""

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

    @model_validator(mode="before")
    @classmethod
    def _trending_title(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("trending") is not None and "title" not in data:
            return {**data, "title": TRENDING_TITLE}
        return data

    @model_validator(mode="after")
    def _complete(self) -> TopicModel:
        if self.title is None:
            raise ValueError("missing required key 'title' — add it, e.g. title: Speech synthesis")
        if self.trending is None and not self.query and not self.about:
            raise ValueError(
                "a topic needs query: (keywords), about: (plain words) or trending: N — add one"
            )
        return self


class SubscriberModel(Strict):
    email: str
    name: SingleLine | None = None
    schedule: SingleLine = "daily"
    timezone: TimeZone | None = None
    topics: list[str | TopicModel]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return validate_address(value)

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str | TopicModel]) -> list[str | TopicModel]:
        if not value:
            raise ValueError(
                "a subscriber needs at least one topic — list topic ids or {title, query}"
            )
        if len(value) > MAX_TOPICS_PER_SUBSCRIBER:
            raise ValueError(
                f"{len(value)} topics; a subscriber may have at most "
                f"{MAX_TOPICS_PER_SUBSCRIBER} — merge some"
            )
        return value


class SubscribersModel(Strict):
    """The file's outline only; each topic and subscriber is validated on its own so that
    one bad entry does not hide the problems of the others."""

    topics: Annotated[dict[str, dict[str, Any]], Field(max_length=10_000)] = Field(
        default_factory=dict
    )
    subscribers: list[dict[str, Any]] = Field(default_factory=list)
