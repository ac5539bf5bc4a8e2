"""Sign-up, confirmation and self-service, independent of the web framework.

The web pages (and ``subscribers import --confirm``) call :class:`Subscriptions`; it
validates what a stranger submitted, records sign-ups, hands confirmation mail to a
:data:`Notify` callback, and applies a subscriber's own changes. Every answer that could
tell whether an address is subscribed is the same for every address.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from newsletter import logs
from newsletter.config import Config
from newsletter.config.addresses import validate_address
from newsletter.config.schema import TRENDING_ID, TRENDING_TITLE, SubscribeModel, check_timezone
from newsletter.records import SubscriberOrigin, SubscriberStatus, SuppressionReason
from newsletter.store.protocols import SubscriberStore, SuppressionStore
from newsletter.store.records import Choice, SignUp
from newsletter.subscriptions.roster import Listed, roster
from newsletter.tokens import BadToken, read_token, token_issued

event = logs.events(__name__)

MAIL_EVERY = timedelta(hours=1)
"""At most one confirmation per address in this time, however often it is submitted."""
MAX_NAME = 100
MAX_OWN_TOPIC = 300
PAUSE_WEEKS = range(1, 13)
CLOCK_SKEW = timedelta(minutes=5)

Notify = Callable[[str, Choice], None]
"""Queues a confirmation mail for an address (and, in ``serve``, delivers it at once)."""
QueryCheck = Callable[[str], "str | None"]
"""None for a valid topic query, else what is wrong with it."""


class SubscriptionStore(SubscriberStore, SuppressionStore, Protocol):
    """The parts of the store sign-up and self-service use."""


class Outcome(StrEnum):
    CHECK_YOUR_MAIL = "check-your-mail"
    """Recorded (or already recorded): the same answer for new and known addresses."""
    INVALID = "invalid"
    """The form has problems (:attr:`Answer.problems`, by field)."""
    FULL = "full"
    """``max_subscribers`` is reached."""


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    problems: Mapping[str, str] = field(default_factory=dict)
    """Field name → what is wrong and how to fix it."""
    email: str | None = None


@dataclass(frozen=True)
class Form:
    """What a sign-up or manage form submitted, as text (nothing validated yet)."""

    email: str = ""
    name: str = ""
    topics: Sequence[str] = ()
    """Library topic ids; ``trending`` included."""
    schedule: str = ""
    timezone: str = ""
    own_topic: str = ""


@dataclass(frozen=True)
class TopicOption:
    id: str
    title: str


@dataclass(frozen=True)
class Confirmed:
    email: str
    again: bool = False
    """The link was used before: the address is already confirmed."""


class Subscriptions:
    """Sign-ups and self-service for one config and store."""

    def __init__(
        self,
        config: Config,
        store: SubscriptionStore,
        *,
        secret: str,
        now: Callable[[], datetime],
        notify: Notify,
        query_check: QueryCheck,
        semantic: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.secret = secret
        self.now = now
        self.notify = notify
        self.query_check = query_check
        self.semantic = semantic

    # -- what the forms offer ------------------------------------------------------------

    @property
    def settings(self) -> SubscribeModel:
        return self.config.subscribe

    def topic_options(self) -> list[TopicOption]:
        """The library's topics, then ``trending`` (unless the library defines its own)."""
        options = [TopicOption(tid, t.title) for tid, t in self.config.topics.items()]
        if TRENDING_ID not in self.config.topics:
            options.append(TopicOption(TRENDING_ID, TRENDING_TITLE))
        return options

    def schedules(self) -> list[str]:
        return list(self.config.schedules)

    @property
    def default_timezone(self) -> str:
        return self.config.timezone

    # -- validation ----------------------------------------------------------------------

    def _choice(self, form: Form, problems: dict[str, str]) -> Choice:
        known = {o.id for o in self.topic_options()}
        topics = tuple(dict.fromkeys(t.strip() for t in form.topics if t.strip()))
        unknown = [t for t in topics if t not in known]
        if unknown:
            problems["topics"] = "Pick topics from the list."
        name = " ".join(form.name.split())
        if len(name) > MAX_NAME or any(not c.isprintable() for c in name):
            problems["name"] = f"Use at most {MAX_NAME} printable characters."
        schedule = form.schedule.strip() or next(iter(self.config.schedules), "daily")
        if schedule not in self.config.schedules:
            problems["schedule"] = "Pick one of the listed schedules."
        timezone = form.timezone.strip() or self.config.timezone
        try:
            check_timezone(timezone)
        except ValueError:
            problems["timezone"] = (
                f"{timezone[:60]!r} is not a time zone — use a name like Europe/Berlin."
            )
        own = " ".join(form.own_topic.split())
        if len(own) > MAX_OWN_TOPIC:
            problems["own_topic"] = f"Use at most {MAX_OWN_TOPIC} characters."
        elif own and not self.semantic:
            wrong = self.query_check(own)
            if wrong:
                problems["own_topic"] = wrong
        if not topics and not own and "topics" not in problems:
            problems["topics"] = "Pick at least one topic, or describe one in your own words."
        return Choice(
            topics=tuple(t for t in topics if t in known),
            own_topic=own or None,
            schedule=schedule,
            timezone=timezone,
            name=name or None,
        )

    def _address(self, text: str, problems: dict[str, str]) -> str | None:
        try:
            email = validate_address(text).lower()
        except ValueError as exc:
            problems["email"] = str(exc)
            return None
        allowed = self.settings.allowed_domains
        domain = email.rpartition("@")[2]
        if allowed and domain not in allowed:
            problems["email"] = "Sign-up is open to addresses at " + ", ".join(allowed) + "."
            return None
        return email

    # -- sign-up -------------------------------------------------------------------------

    def request(
        self,
        form: Form,
        *,
        client: str | None,
        origin: SubscriberOrigin = SubscriberOrigin.WEB,
    ) -> Answer:
        """Record a sign-up and queue its confirmation (at most one an hour per address)."""
        problems: dict[str, str] = {}
        email = self._address(form.email, problems)
        choice = self._choice(form, problems)
        if problems or email is None:
            return Answer(Outcome.INVALID, problems)
        now = self.now()
        answer = self.store.request_signup(
            SignUp(email, origin, choice, now, client),
            mail_after=now - MAIL_EVERY,
            expired_before=now - timedelta(hours=self.settings.confirm_hours),
            cap=self.settings.max_subscribers,
        )
        if answer.full:
            event("signup_full", cap=self.settings.max_subscribers)
            return Answer(Outcome.FULL)
        if answer.mail:
            self.notify(email, choice)
        event("signup", mailed=answer.mail)
        return Answer(Outcome.CHECK_YOUR_MAIL, email=email)

    def confirm(self, token: str, *, client: str | None) -> Confirmed:
        """Make the sign-up a subscriber; raises :class:`BadToken` for a link that is forged,
        expired or has nothing left to confirm."""
        now = self.now()
        email = read_token(
            token,
            self.secret,
            now=now,
            max_age=timedelta(hours=self.settings.confirm_hours),
            purpose="confirm",
        )
        issued = token_issued(token)
        made = self.store.confirm_signup(
            email, issued_before=issued + CLOCK_SKEW, now=now, client=client
        )
        if made is not None:
            event("confirmed", origin=made.origin.value)
            return Confirmed(email)
        found = self.store.stored_subscriber(email)
        if found is not None and found.confirmed_at is not None and found.confirmed_at >= issued:
            return Confirmed(email, again=True)
        raise BadToken(
            "This confirmation link was replaced by a newer one or has been used. "
            "Use the link in the latest confirmation mail, or sign up again."
        )

    # -- self-service --------------------------------------------------------------------

    def reader(self, token: str) -> str:
        """The address a manage link is for; raises :class:`BadToken`."""
        return read_token(token, self.secret, now=self.now(), purpose="manage")

    def listed(self, email: str) -> Listed | None:
        found = roster(self.config, self.store, self.now(), semantic=self.semantic).find(email)
        if found is not None and found.status is SubscriberStatus.PENDING:
            return None  # a sign-up nobody confirmed has nothing to manage yet
        return found

    def change(self, email: str, form: Form) -> Answer:
        """New topics, schedule, time zone or name for a web or imported subscriber."""
        listed = self.listed(email)
        if listed is None or listed.stored is None:
            return Answer(Outcome.INVALID, {"form": "This subscription is managed by the admin."})
        problems: dict[str, str] = {}
        choice = self._choice(form, problems)
        if problems:
            return Answer(Outcome.INVALID, problems)
        if not form.name.strip():
            choice = replace(choice, name=None)
        self.store.change_subscriber(email, choice, self.now())
        event("subscriber_changed", origin=listed.origin.value)
        return Answer(Outcome.CHECK_YOUR_MAIL, email=email)

    def pause(self, email: str, weeks: int) -> datetime:
        """No digests for ``weeks`` (1–12); returns when they start again."""
        if weeks not in PAUSE_WEEKS:
            raise ValueError(f"pause for 1 to 12 weeks, not {weeks}")
        now = self.now()
        until = now + timedelta(weeks=weeks)
        self.store.pause(email, now, until)
        event("paused", weeks=weeks)
        return until

    def resume(self, email: str) -> bool:
        return self.store.unpause(email)

    def unsubscribe(self, email: str) -> None:
        self.store.suppress(email, SuppressionReason.UNSUBSCRIBE, self.now())
        event("unsubscribed", via="manage")
