"""The render phase: a digest becomes the exact bytes to send (HTML, text, MIME, DKIM).

One :class:`MessageMaker` per run: the renderer inside it caches what many subscribers
share (paper cards, the inlined page), so per-subscriber work is assembly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from newsletter.config import Config, ConfigError, Environment, Problem
from newsletter.deliver.verp import token_for, unsubscribe_address
from newsletter.records import Digest, Message
from newsletter.render import Renderer, RenderSettings, TemplateError, errors
from newsletter.run.links import Links, new_view_token

DRY_RUN_SECRET = "dry-run-secret-not-for-real-mail"
"""Signs links in dry-run and preview files when NEWSLETTER_SECRET is not set."""

Signer = Callable[[bytes], bytes]


def render_settings(config: Config) -> RenderSettings:
    """The one place the renderer's settings are taken from the config."""
    return RenderSettings(
        title=config.title,
        base_url=config.base_url,
        sender=config.sender,
        template_dir=config.templates_dir,
        footer=config.footer,
    )


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


_LABEL = re.compile(r"[^a-z0-9-]+")


def feedback_id(config: Config, schedule: str) -> str:
    """``Feedback-ID`` (Gmail's feedback loop): ``schedule:newsletter:digest:sender-domain``,
    stable per newsletter and schedule, so complaint rates can be told apart by schedule."""
    label = _LABEL.sub("-", config.title.lower()).strip("-") or "digest"
    return f"{_LABEL.sub('-', schedule.lower())}:{label}:digest:{sender_domain(config.sender)}"


def message_id_for(sender: str, digest: Digest, run_key: str) -> str:
    """Stable for the same run, subscriber and entries, so a dry run twice gives the same bytes."""
    material = "\n".join([run_key, digest.subscriber.email.lower(), *digest.entry_keys])
    token = hashlib.sha256(material.encode()).hexdigest()[:32]
    return f"<{token}@{sender_domain(sender)}>"


def dkim_signer(env: Environment) -> Signer | None:
    """Sign with DKIM when configured; the signed bytes are the bytes stored and sent.

    The key is read and tried once here, so a bad key stops the run before anything is
    composed instead of failing every message."""
    if not env.dkim_enabled:
        return None
    from newsletter.deliver.dkim import DkimError, dkim_sign

    assert env.dkim_private_key_file and env.dkim_selector and env.dkim_domain
    try:
        key = Path(env.dkim_private_key_file).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(
            [
                Problem(
                    env.source,
                    None,
                    f"DKIM_PRIVATE_KEY_FILE cannot be read ({exc.strerror}) "
                    "— point it at the PEM private key",
                )
            ]
        ) from exc
    selector, domain = env.dkim_selector, env.dkim_domain

    def sign(data: bytes) -> bytes:
        return dkim_sign(data, selector=selector, domain=domain, private_key=key)

    try:
        sign(b"From: check@example.org\r\nSubject: key check\r\n\r\nkey check\r\n")
    except DkimError as exc:
        raise ConfigError(
            [Problem(env.source, None, f"DKIM signing failed: {exc} — check the key file")]
        ) from exc
    return sign


class MessageMaker:
    """Digests to messages for one run (links signed and dated once, shared work cached).

    With ``archive``, every message links to its copy on the web ("View in browser",
    ``Archived-At``) under a fresh random token (``Message.view_token``); the outbox sink
    keeps the archive row beside it. Dry runs and previews store nothing, so their messages
    carry no such link.
    """

    def __init__(
        self,
        config: Config,
        *,
        secret: str,
        run_key: str,
        now: datetime,
        sign: Signer | None = None,
        archive: bool = False,
    ) -> None:
        self.config = config
        self.links = Links(config.base_url, secret, now)
        self.run_key = run_key
        self.now = now
        self.sign = sign
        self.archive = archive
        try:
            self.renderer = Renderer(render_settings(config))
        except TemplateError as exc:  # broken for everyone: stop before anything is made
            raise ConfigError([Problem(*errors.parts(p)) for p in exc.problems]) from None

    def make(self, digest: Digest) -> Message:
        view = new_view_token() if self.archive else None
        links = self.links.for_digest(digest.subscriber.email, view)
        rendered = self.renderer.render(digest, links)
        message_id = message_id_for(self.config.sender, digest, self.run_key)
        return_token = token_for(message_id, self.links.secret)
        mailto = None
        if self.config.bounce_address:
            mailto = f"mailto:{unsubscribe_address(self.config.bounce_address, return_token)}"
            mailto += "?subject=unsubscribe"
        message = self.renderer.message(
            digest,
            rendered,
            message_id=message_id,
            unsubscribe_mailto=mailto,
            date=self.now,
            feedback_id=feedback_id(self.config, digest.subscriber.schedule),
        )
        data = message.data if self.sign is None else self.sign(message.data)
        return replace(
            message,
            data=data,
            token=return_token,
            html_size=rendered.html_size,
            view_token=view,
        )
