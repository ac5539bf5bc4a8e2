"""Every subscriber, whatever its origin, with its status: what runs and listings read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from newsletter.config import Config
from newsletter.config.loader import BUILTIN_TRENDING
from newsletter.config.schema import TRENDING_ID, check_timezone
from newsletter.records import Subscriber, SubscriberOrigin, SubscriberStatus, Topic
from newsletter.store.protocols import SubscriberStore, SuppressionStore
from newsletter.store.records import Choice, Pause, SignUp, StoredSubscriber, Suppression

OWN_TITLE_CHARS = 60


def own_topic(email: str, words: str, *, semantic: bool) -> Topic:
    """A subscriber's topic in their own words: ``about:`` when the semantic extra is
    installed, else the same words as a ``query:`` (every word must appear)."""
    title = words if len(words) <= OWN_TITLE_CHARS else words[: OWN_TITLE_CHARS - 1] + "…"
    topic_id = f"{email.lower()}#own"
    if semantic:
        return Topic(id=topic_id, title=title, about=words)
    return Topic(id=topic_id, title=title, query=words)


def _timezone(name: str, default: str) -> str:
    try:
        return check_timezone(name)
    except ValueError:
        return default


def stored_as_subscriber(
    config: Config, email: str, choice: Choice, *, semantic: bool = False
) -> Subscriber:
    """The run's view of a stored choice. Library topics are looked up now, so an admin's
    edit reaches everyone who chose them; a topic the admin removed is skipped, a schedule
    the admin removed falls back to the first one."""
    topics: list[Topic] = []
    for topic_id in choice.topics:
        if topic_id == TRENDING_ID:
            topics.append(config.topics.get(TRENDING_ID, BUILTIN_TRENDING))
        elif topic_id in config.topics:
            topics.append(config.topics[topic_id])
    if choice.own_topic:
        topics.append(own_topic(email, choice.own_topic, semantic=semantic))
    schedule = (
        choice.schedule
        if choice.schedule in config.schedules
        else next(iter(config.schedules), "daily")
    )
    return Subscriber(
        email=email,
        topics=tuple(topics),
        schedule=schedule,
        timezone=_timezone(choice.timezone, config.timezone),
        name=choice.name,
    )


@dataclass(frozen=True)
class Listed:
    """One address as ``subscribers`` shows it."""

    subscriber: Subscriber
    origin: SubscriberOrigin
    status: SubscriberStatus
    suppression: Suppression | None = None
    pause: Pause | None = None
    stored: StoredSubscriber | None = None
    signup: SignUp | None = None

    @property
    def email(self) -> str:
        return self.subscriber.email


@dataclass(frozen=True)
class Roster:
    """Everyone, in listing order: YAML subscribers first (as written), then stored ones
    by address, then sign-ups still waiting for their confirmation."""

    listed: tuple[Listed, ...]

    def receiving(self) -> tuple[Subscriber, ...]:
        """Who gets digests: active subscribers (suppressed ones are dropped by the run's
        audience too, so a suppression written mid-run still counts)."""
        return tuple(i.subscriber for i in self.listed if i.status is SubscriberStatus.ACTIVE)

    def find(self, email: str) -> Listed | None:
        key = email.strip().lower()
        return next((i for i in self.listed if i.email.lower() == key), None)


def _status(
    email: str,
    suppressed: Mapping[str, Suppression],
    paused: Mapping[str, Pause],
    now: datetime,
    *,
    pending: bool = False,
) -> SubscriberStatus:
    key = email.lower()
    if key in suppressed:
        return SubscriberStatus.SUPPRESSED
    pause = paused.get(key)
    if pause is not None and pause.until > now:
        return SubscriberStatus.PAUSED
    return SubscriberStatus.PENDING if pending else SubscriberStatus.ACTIVE


class RosterStore(SubscriberStore, SuppressionStore, Protocol):
    """The parts of the store a roster reads."""


def roster(
    config: Config,
    store: RosterStore,
    now: datetime,
    *,
    semantic: bool | None = None,
) -> Roster:
    """Build the roster; ``semantic`` None asks whether the extra is installed (only when
    someone has a topic of their own)."""
    suppressed = store.suppressions()
    paused = store.pauses()
    listed: list[Listed] = []
    seen: set[str] = set()
    for sub in config.subscribers:
        key = sub.email.lower()
        seen.add(key)
        listed.append(
            Listed(
                sub,
                SubscriberOrigin.CONFIG,
                _status(key, suppressed, paused, now),
                suppressed.get(key),
                paused.get(key),
            )
        )
    stored = [s for s in store.stored_subscribers() if s.email not in seen]
    expired = now - timedelta(hours=config.subscribe.confirm_hours)
    pending = [s for s in store.signups() if s.email not in seen and s.requested_at >= expired]
    if semantic is None:
        wanted = any(s.choice.own_topic for s in stored) or any(s.choice.own_topic for s in pending)
        semantic = wanted and _semantic()
    for found in stored:
        seen.add(found.email)
        listed.append(
            Listed(
                stored_as_subscriber(config, found.email, found.choice, semantic=semantic),
                found.origin,
                _status(found.email, suppressed, paused, now),
                suppressed.get(found.email),
                paused.get(found.email),
                stored=found,
            )
        )
    for signup in pending:
        if signup.email in seen:
            continue  # a confirmed subscriber asking for new topics: still listed as itself
        listed.append(
            Listed(
                stored_as_subscriber(config, signup.email, signup.choice, semantic=semantic),
                signup.origin,
                _status(signup.email, suppressed, paused, now, pending=True),
                suppressed.get(signup.email),
                paused.get(signup.email),
                signup=signup,
            )
        )
    return Roster(tuple(listed))


def _semantic() -> bool:
    from newsletter.checks import semantic_problem

    return semantic_problem() is None
