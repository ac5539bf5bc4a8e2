"""Load and validate both YAML files once into a typed :class:`Config`.

Nothing downstream reads YAML: every stage gets the typed objects built here.
All problems found are collected and reported together, one line each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from newsletter.config.addresses import excerpt, validate_address
from newsletter.config.errors import ConfigError, Problem, display_path
from newsletter.config.schema import (
    TRENDING_DEFAULT,
    TRENDING_ID,
    TRENDING_TITLE,
    DeliveryModel,
    DigestModel,
    FeedModel,
    LogFormat,
    NewsletterModel,
    SubscribeModel,
    SubscriberModel,
    SubscribersModel,
    TopicModel,
    parse_duration,
)
from newsletter.config.template_folder import check_template_folder
from newsletter.config.values import check_id
from newsletter.config.yamlmarks import LineMap, load_yaml
from newsletter.records import Subscriber, Topic

QueryChecker = Callable[[str], str | None]
"""Returns None for a valid query, else the problem text (may span lines, e.g. with a caret)."""


def resolve_path(base: Path, value: str) -> Path:
    """A path written in a config file is relative to that file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class Config:
    path: Path
    title: str
    sender: str
    base_url: str
    database_url: str
    timezone: str
    feeds: tuple[FeedModel, ...]
    schedules: dict[str, str]
    digest: DigestModel
    topics: dict[str, Topic]
    subscribers: tuple[Subscriber, ...]
    subscribers_path: Path
    templates_dir: Path | None
    fetch_every: timedelta = timedelta(minutes=30)
    """How often the daemon fetches a feed that sets no ``fetch_every`` of its own."""
    catch_up: timedelta = timedelta(hours=6)
    """How late a digest missed while the daemon was down may still be sent."""
    log_format: LogFormat = "key=value"
    fetch_private_addresses: bool = False
    """Feeds may be fetched from private, loopback and link-local addresses (intranet feeds);
    off, such addresses are refused as a defence against SSRF."""
    footer: str | None = None
    """A line or a few (e.g. the sender's postal address) under every digest."""
    archive_days: int = 90
    """How long archived digests stay readable on the web."""
    public_site: bool = True
    """The day's papers page, search and Atom feeds are served."""
    trusted_proxies: int = 0
    """How many reverse proxies' ``X-Forwarded-For`` entries to believe."""
    subscribe: SubscribeModel = field(default_factory=SubscribeModel)
    """Public sign-up: ``enabled``, ``allowed_domains``, ``max_subscribers``, ``confirm_hours``."""
    bounce_address: str | None = None
    """Envelope sender for VERP: bounces go to ``local+token@domain`` of this address."""
    delivery: DeliveryModel = field(default_factory=DeliveryModel)
    """``max_consecutive_errors``: relay refusals in a row before a run pauses."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        return resolve_path(self.base_dir, value)

    def subscriber(self, email: str) -> Subscriber | None:
        try:  # the stored form: an internationalised domain is kept in its ASCII form
            wanted = validate_address(email).lower()
        except ValueError:
            wanted = email.strip().lower()
        return next((s for s in self.subscribers if s.email.lower() == wanted), None)


_PLAIN = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list (one '- item' per line, or [a, b])",
    "tuple_type": "must be a list (one '- item' per line, or [a, b])",
    "dict_type": "must be a mapping of key: value lines",
    "model_type": "must be a mapping of key: value lines",
}


def _describe(error: Any) -> str:
    kind = error["type"]
    loc = error["loc"]
    ctx = error.get("ctx") or {}
    name = ".".join(str(part) for part in loc)
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r} — remove it or check its spelling"
    if kind == "missing":
        return f"missing required key {name!r} — add it"
    if kind in _PLAIN and error.get("input") is None:
        message = "is empty — write a value or remove the key"
    elif kind in _PLAIN:
        message = f"{_PLAIN[kind]}, not {excerpt(str(error.get('input')))}"
    elif kind in {"greater_than_equal", "greater_than"}:
        message = f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    elif kind in {"less_than_equal", "less_than"}:
        message = f"must be at most {ctx.get('le', ctx.get('lt'))}"
    elif kind == "too_long":
        message = f"may hold at most {ctx.get('max_length')} entries — remove some"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    if " — " not in message:
        message += " — fix the value"
    return f"{name}: {message}" if name else message


def _validate(
    model: type[BaseModel],
    data: Any,
    shown: str,
    lines: LineMap,
    problems: list[Problem],
    at: tuple[str | int, ...] = (),
) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        where = ".".join(str(p) for p in at) or "the top level"
        problems.append(
            Problem(
                shown,
                lines.line(at),
                f"expected a mapping of keys at {where} — write key: value lines",
            )
        )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            error = {**error, "loc": (*at, *error["loc"])}
            if error["type"] == "string_type" and _STR_TAGS & set(error["loc"][len(at) + 1 :]):
                continue  # the str branch of "topic id or {title, query}"; the other says more
            loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
            error = {**error, "loc": loc}
            problems.append(Problem(shown, lines.line(loc), _describe(error)))
        return None


_STR_TAGS = {"str", "constrained-str"}


def _is_union_tag(part: object) -> bool:
    # pydantic puts the union member's name into the location ("str", "constrained-str",
    # "TopicModel", "function-after[...]"): noise.
    return isinstance(part, str) and (
        part in _STR_TAGS or part == "TopicModel" or part.startswith("function-")
    )


def _without_repeats(first: list[Problem], rest: list[Problem]) -> list[Problem]:
    """``first`` (characters, repeated keys) and those of ``rest`` on other lines: a value
    with a control character in it need not also be reported as, say, a bad address."""
    taken = {(p.file, p.line) for p in first}
    return [*first, *(p for p in rest if (p.file, p.line) not in taken)]


def _failure(found_in_text: list[Problem], problems: list[Problem], *files: str) -> ConfigError:
    """Every problem once, newsletter.yaml first, each file's in line order."""
    order = {file: index for index, file in enumerate(files)}
    found = _without_repeats(found_in_text, problems)
    found.sort(key=lambda p: (order.get(p.file, len(order)), p.file, p.line or 0))
    return ConfigError(found)


BUILTIN_TRENDING = Topic(id=TRENDING_ID, title=TRENDING_TITLE, trending=TRENDING_DEFAULT)
"""What ``topics: [trending]`` means when no topic of that id is defined (none may be)."""


def _topic(topic_id: str, model: TopicModel) -> Topic:
    return Topic(
        id=topic_id,
        title=model.title or TRENDING_TITLE,
        query=model.query,
        about=model.about,
        threshold=model.threshold,
        require=model.require,
        stemming=model.stemming,
        trending=model.trending,
    )


def load_config(
    path: Path,
    *,
    query_checker: QueryChecker | None = None,
    semantic_problem: Callable[[], str | None] | None = None,
) -> Config:
    """Read ``newsletter.yaml`` and its subscribers file; ConfigError lists every problem."""
    problems: list[Problem] = []
    path = path.expanduser()
    shown = display_path(path)
    main_doc = load_yaml(path)
    lines = main_doc.lines
    found_in_text = list(main_doc.problems)
    main = _validate(NewsletterModel, main_doc.data, shown, lines, problems)
    if main is None:
        raise _failure(found_in_text, problems, shown)
    assert isinstance(main, NewsletterModel)

    base = path.parent
    subs_path = resolve_path(base, main.subscribers)
    subs_shown = display_path(subs_path)
    try:
        subs_doc = load_yaml(subs_path)
    except ConfigError as exc:
        raise _failure(found_in_text, [*problems, *exc.problems], shown) from None
    subs_lines = subs_doc.lines
    found_in_text += subs_doc.problems
    subs = _validate(SubscribersModel, subs_doc.data, subs_shown, subs_lines, problems)
    if subs is None:
        raise _failure(found_in_text, problems, shown, subs_shown)
    assert isinstance(subs, SubscribersModel)

    def problem(loc: tuple[str | int, ...], message: str, detail: str = "") -> None:
        problems.append(Problem(subs_shown, subs_lines.line(loc), message, detail))

    semantic_trouble: list[str | None] = []

    def check_about(about: str | None, loc: tuple[str | int, ...]) -> None:
        if about is None or semantic_problem is None:
            return
        if not semantic_trouble:
            semantic_trouble.append(semantic_problem())
        if semantic_trouble[0]:
            problem((*loc, "about"), semantic_trouble[0])

    def check_query(query: str | None, loc: tuple[str | int, ...]) -> None:
        if query is None or query_checker is None:
            return
        trouble = query_checker(query)
        if trouble:
            first, _, rest = trouble.partition("\n")
            problem((*loc, "query"), f"bad topic query: {first} — fix the query", rest)

    topics: dict[str, Topic] = {}
    for topic_id, raw_topic in subs.topics.items():
        loc: tuple[str | int, ...] = ("topics", topic_id)
        if topic_id == TRENDING_ID:
            problem(
                loc,
                f"{TRENDING_ID!r} is built in — rename this topic (a subscriber may list "
                f"{TRENDING_ID} without defining it; a topic of your own says trending: N)",
            )
            continue
        try:
            check_id(topic_id)
        except ValueError as exc:
            problem(loc, f"topic id {exc}")
            continue
        model = _validate(TopicModel, raw_topic, subs_shown, subs_lines, problems, loc)
        if model is not None:
            check_query(model.query, loc)
            check_about(model.about, loc)
            topics[topic_id] = _topic(topic_id, model)
    broken_topics = set(subs.topics) - set(topics)

    sub_models: list[tuple[int, SubscriberModel]] = []
    for index, raw_sub in enumerate(subs.subscribers):
        valid = _validate(
            SubscriberModel, raw_sub, subs_shown, subs_lines, problems, ("subscribers", index)
        )
        if valid is not None:
            sub_models.append((index, valid))

    subscribers: list[Subscriber] = []
    seen: set[str] = set()
    for index, sub in sub_models:
        loc = ("subscribers", index)
        if sub.email.lower() in seen:
            problem((*loc, "email"), f"{sub.email} is listed twice — keep one entry per address")
        seen.add(sub.email.lower())
        if sub.schedule not in main.schedules:
            known = ", ".join(sorted(main.schedules)) or "none defined"
            problem(
                (*loc, "schedule"),
                f"unknown schedule {excerpt(sub.schedule)} — use one defined under schedules: "
                f"in {shown} ({known})",
            )
        own: list[Topic] = []
        listed: set[str] = set()
        for t_index, item in enumerate(sub.topics):
            t_loc = (*loc, "topics", t_index)
            if isinstance(item, str):
                if item in broken_topics:
                    continue  # already reported where the topic is defined
                if item in listed:
                    problem(t_loc, f"topic {excerpt(item)} is listed twice — keep one")
                    continue
                listed.add(item)
                if item == TRENDING_ID:
                    own.append(BUILTIN_TRENDING)
                elif item in topics:
                    own.append(topics[item])
                else:
                    known = ", ".join(sorted({*topics, TRENDING_ID}))
                    problem(
                        t_loc,
                        f"unknown topic id {excerpt(item)} — define it under topics: or use "
                        f"one of: {known}",
                    )
            else:
                check_query(item.query, t_loc)
                check_about(item.about, t_loc)
                own.append(_topic(f"{sub.email.lower()}#{t_index}", item))
        subscribers.append(
            Subscriber(
                email=sub.email,
                name=sub.name,
                schedule=sub.schedule,
                timezone=sub.timezone or main.timezone,
                topics=tuple(own),
            )
        )

    templates_dir: Path | None = None
    if main.templates:
        templates_dir = resolve_path(base, main.templates)
        problems += check_template_folder(templates_dir, shown, lines.line(("templates",)))

    if problems or found_in_text:
        raise _failure(found_in_text, problems, shown, subs_shown)
    return Config(
        path=path,
        title=main.title,
        sender=main.sender,
        base_url=main.base_url,
        database_url=resolve_database_url(main.database, base),
        timezone=main.timezone,
        feeds=tuple(main.feeds),
        schedules=dict(main.schedules),
        digest=main.digest,
        topics=topics,
        subscribers=tuple(subscribers),
        subscribers_path=subs_path,
        templates_dir=templates_dir,
        fetch_every=parse_duration(main.fetch_every),
        catch_up=parse_duration(main.catch_up),
        log_format=main.log_format,
        fetch_private_addresses=main.fetch_private_addresses,
        footer=main.footer,
        archive_days=main.archive_days,
        public_site=main.public_site,
        trusted_proxies=main.trusted_proxies,
        subscribe=main.subscribe,
        bounce_address=main.bounce_address,
        delivery=main.delivery,
    )


def resolve_database_url(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the config file, like every other path in it."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        relative = url[len(prefix) :]
        return prefix + str((base / relative).resolve())
    return url
