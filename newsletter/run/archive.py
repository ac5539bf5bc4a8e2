"""The web archive's part of a run: what is kept beside each message, and the cleanup.

Each real message gets an unguessable token (its "View in browser" link,
``Message.view_token``); the outbox keeps the message itself, so the archive adds only the
token and, for a digest that was cut, the list of every match. Copies older than
``archive_days`` are removed by :func:`expire_archive`, which ``send`` runs at its end and
the daemon once a day.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from newsletter import logs
from newsletter.app import App
from newsletter.records import Digest, DigestItem, Message
from newsletter.render import textutil
from newsletter.store.records import ArchiveCopy, ArchivedMatch

event = logs.events(__name__)


def was_cut(digest: Digest, message: Message) -> bool:
    """Whether the digest left papers out: ``max_items`` dropped some, or the size budget
    turned some into the "and N more" list, which the renderer links to ``/d/<token>/all``."""
    if digest.omitted > 0 or digest.overflow:
        return True
    return message.view_token is not None and f"/d/{message.view_token}/all" in message.html


@functools.lru_cache(maxsize=16_384)
def _clean(text: str) -> str:
    """Titles, topic names and matched words recur in every digest of a run (a cut digest
    lists ~150 matches): cleaned once each."""
    return textutil.clean(text)


@functools.lru_cache(maxsize=16_384)
def _cleaned(texts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in map(_clean, texts) if c)


def _match(item: DigestItem, in_mail: bool) -> ArchivedMatch:
    return _archived(item.entry.title, item.entry.link, item.topics, item.terms, in_mail)


@functools.lru_cache(maxsize=65_536)
def _archived(
    title: str, link: str | None, topics: tuple[str, ...], terms: tuple[str, ...], in_mail: bool
) -> ArchivedMatch:
    """The same paper under the same topics recurs across a run's digests: made once."""
    return ArchivedMatch(
        title=_clean(title) or "(untitled)",
        link=textutil.safe_url(link),
        topics=_cleaned(topics),
        terms=_cleaned(terms),
        in_mail=in_mail,
    )


def every_match(digest: Digest) -> tuple[ArchivedMatch, ...]:
    """The digest's papers in mail order, then those ``max_items`` left out, best first."""
    return tuple(_match(item, True) for item in digest.items) + tuple(
        _match(item, False) for item in digest.overflow
    )


def archive_copy(digest: Digest, message: Message) -> ArchiveCopy:
    """What the outbox keeps beside an archived message (it has a ``view_token``)."""
    assert message.view_token is not None
    matches = every_match(digest) if was_cut(digest, message) else ()
    return ArchiveCopy(token=message.view_token, message_id=message.message_id, matches=matches)


def expire_archive(app: App) -> int:
    """Remove the archived copies older than ``archive_days`` (delivery history stays)."""
    now = app.now()
    removed = app.store.expire_archive(now - timedelta(days=app.config.archive_days), now)
    if removed:
        event("archive_expired", copies=removed, archive_days=app.config.archive_days)
    return removed
