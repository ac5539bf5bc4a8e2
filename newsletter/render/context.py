"""The variables a digest template receives (shared by the fast and the naive renderer).

``docs/templates.md`` documents each one; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from newsletter.records import Digest
from newsletter.render import textutil, views
from newsletter.render.settings import RenderSettings

SUBSCRIBER_VALUES: tuple[str, ...] = (
    "date",
    "summary",
    "preheader",
    "subscriber_email",
    "subscriber_name",
    "topics_text",
    "unsubscribe_url",
    "manage_url",
)
"""Per-subscriber strings. The fast renderer inlines the page once with a placeholder for
each and fills in the (escaped) values per subscriber, so templates must print them as they
are (no filters that change them)."""

_URL_UNSAFE = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f]')


def url_value(url: str | None) -> str | None:
    """A subscriber link made safe for an ``href``: unsafe characters percent-encoded."""
    if url is None:
        return None
    clean = _URL_UNSAFE.sub(lambda m: f"%{ord(m.group(0)):02X}", url.strip())
    if textutil.safe_url(clean) is None:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return clean


def run_globals(settings: RenderSettings) -> dict[str, Any]:
    """Values every template (the page and each part) receives."""
    return {
        "title": textutil.clean(settings.title),
        "base_url": settings.base_url,
        "lang": settings.lang,
        "dir": settings.direction,
    }


def subscriber_values(
    digest: Digest, unsubscribe_url: str, manage_url: str | None
) -> dict[str, str | None]:
    """The per-subscriber strings (see :data:`SUBSCRIBER_VALUES`)."""
    subscriber = digest.subscriber
    return {
        "date": textutil.format_long_date(digest.created),
        "summary": views.summary(digest),
        "preheader": views.preheader(digest),
        "subscriber_email": textutil.clean(subscriber.email),
        "subscriber_name": textutil.clean(subscriber.name or "") or None,
        "topics_text": views.topics_text(digest),
        "unsubscribe_url": url_value(unsubscribe_url),
        "manage_url": url_value(manage_url),
    }


def page_context(
    settings: RenderSettings,
    digest: Digest,
    plan: views.Plan,
    cards: Sequence[views.Card],
    values: dict[str, str | None],
) -> dict[str, Any]:
    """Everything ``digest.html.j2`` and ``digest.txt.j2`` receive."""
    sections, more, hidden = views.sections(digest, plan, cards)
    updated = views.updated_links(digest)
    context = run_globals(settings)
    context.update(values)
    context.update(
        {
            "sections": sections,
            "more": more,
            "more_heading": f"And {textutil.plural(hidden, 'more matching paper')}",
            "updated": updated,
            "updated_heading": (
                f"Updated: {textutil.plural(len(digest.updated), 'paper')} you already got"
            ),
            "paper_count": len(digest.items),
            "topic_count": len(digest.subscriber.topics),
        }
    )
    return context


def subject(settings: RenderSettings, digest: Digest) -> str:
    """``Paper digest: 12 new papers for your 3 topics`` (one line, no control characters)."""
    return textutil.header_safe(f"{textutil.clean(settings.title)}: {views.summary(digest)}")


def finish_text(text: str) -> str:
    """The text part as sent: no trailing spaces (but the ``-- `` signature line), one final
    newline."""
    lines = text.strip("\n").split("\n")
    return "\n".join(line if line == "-- " else line.rstrip() for line in lines) + "\n"
