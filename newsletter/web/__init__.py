"""The web app: unsubscribe pages, the day's papers, search, archived digests, Atom out.

Flask pages served by waitress. A face like the CLI: it reads through the store and writes
only suppressions (and, later, the outbox); it never sends mail by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from newsletter.subscriptions.confirmations import ConfirmationSender
from newsletter.subscriptions.signup import Subscriptions
from newsletter.web.app import Suppressions, create_app
from newsletter.web.server import running, serve
from newsletter.web.site import Site
from newsletter.web.subscribe import SignupLimits

if TYPE_CHECKING:
    from newsletter.app import App
    from newsletter.subscriptions.signup import Notify

__all__ = [
    "SignupLimits",
    "Site",
    "Suppressions",
    "create_app",
    "running",
    "serve",
    "serve_app",
    "site_for",
    "web_app",
]


def site_for(app: App) -> Site:
    """The public pages' view of this config and store."""
    from newsletter.run.plan import make_matcher

    store = app.store
    config = app.config
    return Site(
        store=store,
        now=app.clock,
        title=config.title,
        base_url=config.base_url,
        timezone=config.timezone,
        topics=config.topics,
        archive_days=config.archive_days,
        public_site=config.public_site,
        matcher=lambda topics: make_matcher(topics, store.vector_cache(), config),
    )


def subscriptions_for(app: App, notify: Notify) -> Subscriptions:
    """Sign-up (when ``subscribe.enabled``) and self-service (always: the manage page serves
    every subscriber) for this config."""
    from newsletter.checks import check_query, semantic_problem

    return Subscriptions(
        app.config,
        app.store,
        secret=app.env.require_secret(),
        now=app.clock,
        notify=notify,
        query_check=check_query,
        semantic=semantic_problem() is None,
    )


def confirmation_sender(app: App) -> ConfirmationSender:
    """Queues confirmation mail and sends it at once through ``send``'s SMTP settings."""
    return ConfirmationSender(
        app.config,
        app.store,
        secret=app.env.require_secret(),
        smtp=app.env.smtp,
        clock=app.clock,
    )


def web_app(
    app: App, notify: Notify | None = None, *, signup_limits: SignupLimits | None = None
) -> object:
    """The WSGI app for this config, answering under the path of ``base_url``.

    ``notify`` queues a confirmation mail (``serve`` passes its :class:`ConfirmationSender`);
    without it confirmations are queued in the outbox for the next ``send``.
    ``signup_limits`` overrides the default rate limits of ``POST /subscribe``."""
    if notify is None:
        notify = confirmation_sender(app)
    return create_app(
        secret=app.env.require_secret(),
        suppressions=app.store,
        base_path=urlparse(app.config.base_url).path or "/",
        title=app.config.title,
        now=app.clock,
        site=site_for(app),
        trusted_proxies=app.config.trusted_proxies,
        subscriptions=subscriptions_for(app, notify),
        secure_host=_https_host(app.config.base_url),
        signup_limits=signup_limits,
    )


def _https_host(base_url: str) -> str | None:
    parts = urlparse(base_url)
    return parts.netloc if parts.scheme == "https" else None


def serve_app(app: App, *, host: str, port: int) -> None:
    """Run the web app until interrupted (put an HTTPS reverse proxy in front); confirmation
    mail is sent from a background thread as soon as a sign-up queues it."""
    sender = confirmation_sender(app)
    sender.start()
    try:
        serve(
            web_app(app, sender), host=host, port=port, trusted_proxies=app.config.trusted_proxies
        )
    finally:
        sender.close()
