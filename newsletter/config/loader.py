"""Load and validate both YAML files once into a typed :class:`Config`.

Nothing downstream reads YAML: every stage gets the typed objects built here.
All problems found are collected and reported together, one line each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from newsletter.config.errors import ConfigError, Problem, display_path
from newsletter.config.schema import (
    DigestModel,
    FeedModel,
    NewsletterModel,
    SubscriberModel,
    SubscribersModel,
    TopicModel,
    parse_duration,
)
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
    log_format: str = "key=value"

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        return resolve_path(self.base_dir, value)

    def subscriber(self, email: str) -> Subscriber | None:
        wanted = email.strip().lower()
        return next((s for s in self.subscribers if s.email.lower() == wanted), None)


def _describe(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = error["loc"]
    name = ".".join(str(part) for part in loc)
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r} — remove it or check its spelling"
    if kind == "missing":
        return f"missing required key {name!r} — add it"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in {
        "int_parsing",
        "float_parsing",
        "string_type",
        "list_type",
        "dict_type",
        "model_type",
    }:
        return f"{name}: {message} — fix the value"
    if kind == "literal_error":
        return f"{name}: {message}"
    return f"{name}: {message}" if " — " in message or kind != "value_error" else message


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
        problems.append(Problem(shown, lines.line(at), f"expected a mapping of keys at {where}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            error = {**error, "loc": (*at, *error["loc"])}
            if error["type"] == "string_type" and "str" in error["loc"][len(at) + 1 :]:
                continue  # the str branch of "topic id or {title, query}"; the other says more
            loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
            error = {**error, "loc": loc}
            problems.append(Problem(shown, lines.line(loc), _describe(error, model)))
        return None


def _is_union_tag(part: object) -> bool:
    # pydantic puts the union member's name into the location ("str", "TopicModel"): noise.
    return isinstance(part, str) and (part in {"str", "TopicModel"} or part.startswith("function-"))


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
    raw, lines = load_yaml(path)
    main = _validate(NewsletterModel, raw, shown, lines, problems)
    if main is None:
        raise ConfigError(problems)
    assert isinstance(main, NewsletterModel)

    base = path.parent
    subs_path = resolve_path(base, main.subscribers)
    subs_shown = display_path(subs_path)
    try:
        subs_raw, subs_lines = load_yaml(subs_path)
    except ConfigError as exc:
        problems.extend(exc.problems)
        raise ConfigError(problems) from None
    subs = _validate(SubscribersModel, subs_raw, subs_shown, subs_lines, problems)
    if subs is None:
        raise ConfigError(problems)
    assert isinstance(subs, SubscribersModel)

    semantic_trouble: list[str | None] = []

    def check_about(about: str | None, loc: tuple[str | int, ...]) -> None:
        if about is None or semantic_problem is None:
            return
        if not semantic_trouble:
            semantic_trouble.append(semantic_problem())
        if semantic_trouble[0]:
            problems.append(
                Problem(subs_shown, subs_lines.line((*loc, "about")), semantic_trouble[0])
            )

    def check_query(query: str | None, loc: tuple[str | int, ...]) -> None:
        if query is None or query_checker is None:
            return
        trouble = query_checker(query)
        if trouble:
            first, _, rest = trouble.partition("\n")
            problems.append(
                Problem(
                    subs_shown,
                    subs_lines.line((*loc, "query")),
                    f"bad topic query: {first} — fix the query",
                    rest,
                )
            )

    topic_models: dict[str, TopicModel] = {}
    for topic_id, raw_topic in subs.topics.items():
        valid = _validate(
            TopicModel, raw_topic, subs_shown, subs_lines, problems, ("topics", topic_id)
        )
        if valid is not None:
            topic_models[topic_id] = valid
    sub_models: list[tuple[int, SubscriberModel]] = []
    for index, raw_sub in enumerate(subs.subscribers):
        valid = _validate(
            SubscriberModel, raw_sub, subs_shown, subs_lines, problems, ("subscribers", index)
        )
        if valid is not None:
            sub_models.append((index, valid))

    topics: dict[str, Topic] = {}
    for topic_id, model in topic_models.items():
        check_query(model.query, ("topics", topic_id))
        check_about(model.about, ("topics", topic_id))
        topics[topic_id] = Topic(
            id=topic_id,
            title=model.title,
            query=model.query,
            about=model.about,
            threshold=model.threshold,
            require=model.require,
            stemming=model.stemming,
        )

    subscribers: list[Subscriber] = []
    seen: set[str] = set()
    broken_topics = set(subs.topics) - set(topic_models)
    for index, sub in sub_models:
        loc: tuple[str | int, ...] = ("subscribers", index)
        if sub.email.lower() in seen:
            problems.append(
                Problem(
                    subs_shown,
                    subs_lines.line((*loc, "email")),
                    f"{sub.email} is listed twice — keep one entry per address",
                )
            )
        seen.add(sub.email.lower())
        if sub.schedule not in main.schedules:
            known = ", ".join(sorted(main.schedules)) or "none defined"
            problems.append(
                Problem(
                    subs_shown,
                    subs_lines.line((*loc, "schedule")),
                    f"unknown schedule {sub.schedule!r} — use one defined under schedules: "
                    f"in {shown} ({known})",
                )
            )
        own: list[Topic] = []
        for t_index, item in enumerate(sub.topics):
            t_loc = (*loc, "topics", t_index)
            if isinstance(item, str):
                if item in broken_topics:
                    continue  # already reported where the topic is defined
                if item not in topics:
                    known = ", ".join(sorted(topics)) or "none defined"
                    problems.append(
                        Problem(
                            subs_shown,
                            subs_lines.line(t_loc),
                            f"unknown topic id {item!r} — define it under topics: or use one of: "
                            f"{known}",
                        )
                    )
                    continue
                own.append(topics[item])
            else:
                check_query(item.query, t_loc)
                check_about(item.about, t_loc)
                own.append(
                    Topic(
                        id=f"{sub.email.lower()}#{t_index}",
                        title=item.title,
                        query=item.query,
                        about=item.about,
                        threshold=item.threshold,
                        require=item.require,
                        stemming=item.stemming,
                    )
                )
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
        if not templates_dir.is_dir():
            problems.append(
                Problem(
                    shown,
                    lines.line(("templates",)),
                    f"templates folder {display_path(templates_dir)} does not exist — create it "
                    "or remove the templates: key",
                )
            )

    if problems:
        raise ConfigError(problems)
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
    )


def resolve_database_url(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the config file, like every other path in it."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        relative = url[len(prefix) :]
        return prefix + str((base / relative).resolve())
    return url
