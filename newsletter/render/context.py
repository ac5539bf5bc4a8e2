"""The variables a digest template receives (shared by the fast and the naive renderer).

``docs/templates.md`` documents each one; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from newsletter.records import Digest, DigestLinks
from newsletter.render import textutil, views
from newsletter.render.settings import RenderSettings

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
    """Values every template (the page and each part) receives: the same for everyone."""
    return {
        "title": textutil.clean(settings.title),
        "base_url": settings.base_url,
        "lang": settings.lang,
        "dir": settings.direction,
        "footer": "\n".join(settings.footer_lines) or None,
        "footer_lines": settings.footer_lines,
    }


def subscriber_values(
    digest: Digest, links: DigestLinks, mark: views.Marking = views.PLAIN
) -> dict[str, Any]:
    """The page's per-subscriber strings (the same for every size-budget attempt)."""
    subscriber = digest.subscriber
    name = textutil.clean(subscriber.name or "")
    return {
        "date": mark.text(textutil.format_long_date(digest.created)),
        "summary": mark.text(views.summary(digest)),
        "preheader": mark.text(views.preheader(digest)),
        "subscriber_email": mark.text(textutil.clean(subscriber.email)),
        "subscriber_name": mark.text(name) if name else None,
        "topics_text": mark.text(views.topics_text(digest)),
        "unsubscribe_url": mark.maybe(url_value(links.unsubscribe_url)),
        "manage_url": mark.maybe(url_value(links.manage_url)),
        "view_url": mark.maybe(url_value(links.view_url)),
        "all_url": mark.maybe(url_value(links.all_url)),
        "updated": views.updated_links(digest, mark),
        "updated_heading": mark.text(
            f"Updated: {textutil.plural(len(digest.updated), 'paper')} you already got"
        ),
        "paper_count": mark.number(len(digest.items)),
        "topic_count": mark.number(len(digest.subscriber.topics)),
    }


def page_context(
    settings: RenderSettings,
    digest: Digest,
    plan: views.Plan,
    cards: Sequence[views.Card],
    values: dict[str, Any],
    mark: views.Marking = views.PLAIN,
) -> dict[str, Any]:
    """Everything ``digest.html.j2`` and ``digest.txt.j2`` receive (but ``part`` and
    ``highlight``, which each renderer adds)."""
    sections, more, listed = views.sections(digest, plan, cards, mark)
    cut = views.Cut(listed=listed, omitted=max(digest.omitted, 0), limit=len(digest.items))
    context = run_globals(settings)
    context.update(values)
    context.update(
        {
            "sections": sections,
            "more": more,
            "more_count": mark.number(cut.count),
            "more_heading": mark.text(cut.heading),
            "more_reason": mark.text(cut.reason) if cut.count else "",
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
