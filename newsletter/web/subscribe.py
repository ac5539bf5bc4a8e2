"""Sign-up with double opt-in, and each subscriber's own page: ``/subscribe``, ``/confirm``,
``/manage``.

Rules they keep, and why:
- Every form carries a CSRF token (Flask-WTF, bound to a session cookie that is HttpOnly
  and SameSite=Lax): another site cannot make a visitor's browser sign up, confirm, pause
  or unsubscribe.
- The sign-up answer is the same page for a new and a known address, so the form cannot
  be used to find out who subscribes; a filled honeypot field gets that page too, and
  nothing is recorded.
- ``POST /subscribe`` is rate-limited per client address and overall, so it cannot be
  used to mail-bomb strangers with confirmations.
- A GET never changes anything: mail scanners follow the confirmation link, so
  ``/confirm`` shows a button and only its POST confirms.
- A manage link's signed token is the credential (it travels in the form as well); it
  names the address, so editing a URL cannot reach someone else's subscription.
- When ``subscribe.enabled`` is off, sign-up and confirmation answer 404; the manage page
  keeps serving existing subscribers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from urllib.parse import quote
from zoneinfo import ZoneInfo, available_timezones

from flask import Blueprint, Response, abort, request
from flask_limiter import Limiter
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import MultiDict

from newsletter import logs
from newsletter.config.loader import BUILTIN_TRENDING
from newsletter.config.schema import TRENDING_ID
from newsletter.match import Matcher
from newsletter.records import SubscriberOrigin, SubscriberStatus, Topic
from newsletter.subscriptions.roster import Listed
from newsletter.subscriptions.signup import (
    PAUSE_WEEKS,
    Answer,
    Form,
    Outcome,
    Subscriptions,
    TopicOption,
)
from newsletter.tokens import BadToken, make_token, read_token, token_issued
from newsletter.web.papers import ranked
from newsletter.web.responses import error_page, page, site_policy
from newsletter.web.search import PaperMemo, match_topic
from newsletter.web.site import Site

event = logs.events(__name__)

EXAMPLE_DAYS = 7
"""Each topic on the form shows papers it matched in this many days."""
EXAMPLES = 3
HONEYPOT = "website"
"""A field people never see; bots that fill every input give themselves away."""
SCRIPT_MAX_AGE = 86400
DONE_NOTE = "Changes apply from your next digest."


@dataclass(frozen=True)
class SignupLimits:
    """Flask-Limiter limits on ``POST /subscribe`` (empty: none)."""

    per_client: str = "5 per minute"
    """Per client address (``request.remote_addr``, rewritten by ProxyFix only behind
    ``trusted_proxies``)."""
    overall: str = "100 per hour"
    """All clients together: caps the confirmation mail the form can cause."""


@cache
def time_zones() -> tuple[str, ...]:
    """Names the time-zone field suggests (a ``<datalist>``; any IANA name is accepted)."""
    return tuple(sorted(available_timezones()))


@cache
def timezone_script() -> bytes:
    return (
        resources.files("newsletter.web").joinpath("templates/timezone.js").read_text("utf-8")
    ).encode("utf-8")


class Examples:
    """A few of last week's papers per topic, so a visitor sees what a topic brings.

    Computed once per state of the week's papers (their stamp) and kept; papers are read
    through the shared :class:`PaperMemo`. A failure (say, the semantic model is missing)
    only leaves the examples out: the form must always work.
    """

    def __init__(self, site: Site | None, memo: PaperMemo | None) -> None:
        self.site = site
        self.memo = memo
        self._lock = threading.Lock()
        self._key: object = None
        self._titles: dict[str, list[str]] = {}
        self._matchers: dict[str, Matcher] = {}

    def titles(self, options: Sequence[TopicOption]) -> Mapping[str, list[str]]:
        site, memo = self.site, self.memo
        if site is None or memo is None:
            return {}
        start = site.day_start(site.today() - timedelta(days=EXAMPLE_DAYS - 1))
        end = site.now() + timedelta(days=1)
        try:
            key = (start, site.store.papers_stamp(start, end), tuple(options))
            with self._lock:
                if key == self._key:
                    return self._titles
            titles = self._build(site, memo, start, end, options)
        except Exception:
            event("signup_examples_failed", logging.WARNING, exc_info=True)
            return {}
        with self._lock:
            self._key, self._titles = key, titles
        return titles

    def _build(
        self,
        site: Site,
        memo: PaperMemo,
        start: datetime,
        end: datetime,
        options: Sequence[TopicOption],
    ) -> dict[str, list[str]]:
        refs = site.store.paper_refs(start, end)
        newest = sorted(refs, key=lambda ref: (-ref.published.timestamp(), ref.key))
        corpus = memo.papers(newest)
        titles: dict[str, list[str]] = {}
        for option in options:
            topic = site.topics.get(option.id)
            if topic is None and option.id == TRENDING_ID:
                topic = BUILTIN_TRENDING
            if topic is None:
                continue
            if topic.query is None and topic.about is None:  # trending: the most upvoted
                entries = ranked(entry for entry, _ in corpus)
            else:
                found = match_topic(topic, corpus, self._matcher(topic)).found
                entries = [entry for _, entry in found]
                if topic.trending:
                    entries = ranked(entries)
            titles[option.id] = [entry.title for entry in entries[:EXAMPLES]]
        return titles

    def _matcher(self, topic: Topic) -> Matcher:
        assert self.site is not None
        found = self._matchers.get(topic.id)
        if found is None:
            found = self._matchers[topic.id] = self.site.matcher([topic])
        return found


def form_of(data: MultiDict[str, str]) -> Form:
    """What a sign-up or manage form submitted, as the service reads it."""
    return Form(
        email=data.get("email", ""),
        name=data.get("name", ""),
        topics=data.getlist("topics"),
        schedule=data.get("schedule", ""),
        timezone=data.get("timezone", ""),
        own_topic=data.get("own_topic", ""),
    )


def signup_box(subscriptions: Subscriptions, prefix: str) -> Callable[[], dict[str, object]]:
    """What the day's page needs for its compact sign-up form (email and topics)."""

    def context() -> dict[str, object]:
        return {
            "action": f"{prefix}/subscribe",
            "topics": subscriptions.topic_options(),
            "schedule": next(iter(subscriptions.schedules()), ""),
            "timezone": subscriptions.default_timezone,
        }

    return context


def blueprint(
    subscriptions: Subscriptions,
    *,
    limiter: Limiter,
    limits: SignupLimits,
    prefix: str,
    title: str,
    secret: str,
    now: Callable[[], datetime],
    site: Site | None = None,
    memo: PaperMemo | None = None,
) -> Blueprint:
    """``/subscribe``, ``/confirm``, ``/manage`` and the form's script under ``prefix``."""
    pages = Blueprint("subscribe", __name__)
    nav = site.nav if site is not None else None
    examples = Examples(site, memo)
    settings = subscriptions.settings

    def show(name: str, status: int = 200, **context: object) -> Response:
        return page(name, status, title=title, nav=nav, csrf_token=generate_csrf(), **context)

    def bad_link(reason: str, advice: str = "") -> Response:
        links = [(f"{prefix}/subscribe", "Sign up again")] if settings.enabled else []
        return error_page(
            400,
            "This link does not work",
            reason,
            title=title,
            nav=nav,
            advice=advice or "Use the link in the most recent mail from us.",
            links=links,
        )

    def enabled_only() -> None:
        if not settings.enabled:
            abort(404)

    def choice_context() -> dict[str, object]:
        options = subscriptions.topic_options()
        return {
            "options": options,
            "examples": examples.titles(options),
            "schedules": subscriptions.schedules(),
            "zones": time_zones(),
            "semantic": subscriptions.semantic,
        }

    def signup_page(form: Form, problems: Mapping[str, str], status: int) -> Response:
        response = show(
            "subscribe.html",
            status,
            heading=f"Subscribe to {title}",
            action=f"{prefix}/subscribe",
            script=f"{prefix}/assets/timezone.js",
            values=form,
            problems=problems,
            detect=status == 200,
            honeypot=HONEYPOT,
            confirm_hours=settings.confirm_hours,
            **choice_context(),
        )
        response.headers["Content-Security-Policy"] = site_policy(script=True)
        return response

    def check_your_mail() -> Response:
        return show("check_mail.html", heading="Check your mail", hours=settings.confirm_hours)

    @pages.get("/assets/timezone.js")
    def script() -> Response:
        response = Response(timezone_script(), mimetype="text/javascript")
        response.headers["Cache-Control"] = f"public, max-age={SCRIPT_MAX_AGE}"
        return response

    def subscribe_form() -> Response:
        enabled_only()
        form = Form(
            email=request.args.get("email", "")[:320],
            topics=request.args.getlist("topics")[:50],
            schedule=next(iter(subscriptions.schedules()), ""),
            timezone=subscriptions.default_timezone,
        )
        return signup_page(form, {}, 200)

    def subscribe() -> Response:
        enabled_only()
        form = form_of(request.form)
        if request.form.get(HONEYPOT, "").strip():
            event("signup_honeypot")
            return check_your_mail()
        answer = subscriptions.request(form, client=request.remote_addr)
        if answer.outcome is Outcome.INVALID:
            return signup_page(form, answer.problems, 400)
        if answer.outcome is Outcome.FULL:
            return error_page(
                503,
                "Sign-ups are closed for now",
                f"{title} has as many subscribers as it can take at the moment.",
                title=title,
                nav=nav,
                advice="Please try again in a few weeks.",
            )
        return check_your_mail()

    limited: Callable[[], Response] = subscribe
    if limits.overall:
        limited = limiter.limit(limits.overall, key_func=lambda: "subscribe-all")(limited)
    if limits.per_client:
        limited = limiter.limit(limits.per_client)(limited)

    def confirm_hours() -> timedelta:
        return timedelta(hours=settings.confirm_hours)

    def confirm_form() -> Response:
        enabled_only()
        token = request.args.get("token", "")
        if not token:
            return bad_link("This link is incomplete: it carries no token.")
        try:
            email = read_token(token, secret, now=now(), max_age=confirm_hours(), purpose="confirm")
        except BadToken as exc:
            return bad_link(str(exc))
        found = subscriptions.store.stored_subscriber(email)
        if found and found.confirmed_at is not None and found.confirmed_at >= token_issued(token):
            return subscribed(email, again=True)
        return show(
            "confirm_signup.html",
            heading="Confirm your subscription",
            email=email,
            token=token,
            action=f"{prefix}/confirm",
        )

    def confirm() -> Response:
        enabled_only()
        token = request.form.get("token") or request.args.get("token", "")
        if not token:
            return bad_link("This link is incomplete: it carries no token.")
        try:
            confirmed = subscriptions.confirm(token, client=request.remote_addr)
        except BadToken as exc:
            return bad_link(str(exc))
        return subscribed(confirmed.email, again=confirmed.again)

    if settings.enabled:
        # Off, the routes do not exist: their POSTs answer 404 before any CSRF check.
        pages.get("/subscribe")(subscribe_form)
        pages.post("/subscribe")(limited)
        pages.get("/confirm")(confirm_form)
        pages.post("/confirm")(confirm)

    def manage_url(email: str) -> str:
        token = make_token(email, secret, now=now(), purpose="manage")
        return f"{prefix}/manage?token={quote(token, safe='')}"

    def subscribed(email: str, *, again: bool) -> Response:
        heading = "Already confirmed" if again else "You are subscribed"
        return show("subscribed.html", heading=heading, email=email, manage=manage_url(email))

    def manage_page(
        email: str,
        token: str,
        listed: Listed,
        *,
        status: int = 200,
        form: Form | None = None,
        problems: Mapping[str, str] | None = None,
        notice: str = "",
    ) -> Response:
        stored = listed.stored
        if form is None and stored is not None:
            choice = stored.choice
            form = Form(
                email=email,
                name=choice.name or "",
                topics=choice.topics,
                schedule=choice.schedule,
                timezone=choice.timezone,
                own_topic=choice.own_topic or "",
            )
        zone = ZoneInfo(listed.subscriber.timezone)
        paused_until = (
            listed.pause.until.astimezone(zone).strftime("%-d %B %Y")
            if listed.pause is not None and listed.status is SubscriberStatus.PAUSED
            else ""
        )
        return show(
            "manage.html",
            status,
            heading="Your subscription",
            email=email,
            token=token,
            action=f"{prefix}/manage",
            origin=listed.origin.value,
            by_admin=listed.origin is SubscriberOrigin.CONFIG,
            state=listed.status.value,
            suppressed=listed.status is SubscriberStatus.SUPPRESSED,
            paused_until=paused_until,
            topic_titles=[t.title for t in listed.subscriber.topics],
            schedule=listed.subscriber.schedule,
            weeks=list(PAUSE_WEEKS),
            values=form or Form(email=email),
            problems=problems or {},
            notice=notice,
            detect=False,
            honeypot="",
            resubscribe=f"{prefix}/resubscribe",
            unsubscribe_token=make_token(email, secret, now=now()),
            **choice_context(),
        )

    def manage_target() -> tuple[str, str, Listed] | Response:
        """The manage link's reader, token and subscription, or the page that says why not."""
        token = request.form.get("token") or request.args.get("token", "")
        if not token:
            return bad_link("This link is incomplete: it carries no token.")
        try:
            email = subscriptions.reader(token)
        except BadToken as exc:
            return bad_link(str(exc), "Use the “Manage your topics” link in your latest digest.")
        listed = subscriptions.listed(email)
        if listed is None:
            return nobody(email)
        return email, token, listed

    def nobody(email: str) -> Response:
        links = [(f"{prefix}/subscribe", "Subscribe")] if settings.enabled else []
        return error_page(
            404,
            "No subscription here",
            f"There is no subscription for {email} (any more).",
            title=title,
            nav=nav,
            advice="If you think this is a mistake, reply to your latest digest.",
            links=links,
        )

    @pages.get("/manage")
    def manage_form() -> Response:
        target = manage_target()
        if isinstance(target, Response):
            return target
        email, token, listed = target
        return manage_page(email, token, listed)

    @pages.post("/manage")
    def manage() -> Response:
        target = manage_target()
        if isinstance(target, Response):
            return target
        email, token, listed = target
        action = request.form.get("action", "")
        if action == "change":
            form = form_of(request.form)
            answer: Answer = subscriptions.change(email, form)
            if answer.outcome is not Outcome.CHECK_YOUR_MAIL:
                return manage_page(
                    email, token, listed, status=400, form=form, problems=answer.problems
                )
            notice = f"Saved. {DONE_NOTE}"
        elif action == "pause":
            try:
                weeks = int(request.form.get("weeks", ""))
                subscriptions.pause(email, weeks)
            except ValueError:
                problems = {"weeks": "Pick 1 to 12 weeks."}
                return manage_page(email, token, listed, status=400, problems=problems)
            notice = f"Paused for {weeks} week{'s' if weeks != 1 else ''}."
        elif action == "resume":
            subscriptions.resume(email)
            notice = f"Resumed. {DONE_NOTE}"
        elif action == "unsubscribe":
            subscriptions.unsubscribe(email)
            return page(
                "unsubscribed.html",
                title=title,
                nav=nav,
                heading="You are unsubscribed",
                email=email,
                resubscribe_url=f"{prefix}/resubscribe",
                token=make_token(email, secret, now=now()),
            )
        else:
            abort(400, "Unknown action: use one of the page's buttons.")
        fresh = subscriptions.listed(email)
        if fresh is None:
            return nobody(email)
        return manage_page(email, token, fresh, notice=notice)

    return pages
