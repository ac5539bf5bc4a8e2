"""The size budget: abstracts shrink first, then extra papers become title links."""

from __future__ import annotations

import re

import test_render_support as support

from newsletter.render import Renderer
from newsletter.render.views import ABSTRACT_LIMITS


def card_count(html: str) -> int:
    return len(re.findall(r'<table role="presentation" class="card"', html))


def longest_abstract_shown(html: str) -> int:
    texts = re.findall(r'<p class="abstract"[^>]*>(.*?)</p>', html)
    return max(len(re.sub(r"<[^>]+>", "", t)) for t in texts)


def test_abstracts_are_shortened_before_papers_are_dropped() -> None:
    digest = support.digest(entries=support.longest_entries(25))
    full = Renderer(support.settings(), verify=False).render(
        digest, unsubscribe_url=support.UNSUBSCRIBE
    )
    size = len(full.html.encode())
    assert longest_abstract_shown(full.html) > ABSTRACT_LIMITS[1] + 1
    tight = Renderer(support.settings(max_html_bytes=size - 2_000), verify=False).render(
        digest, unsubscribe_url=support.UNSUBSCRIBE
    )
    assert len(tight.html.encode()) <= size - 2_000
    assert card_count(tight.html) == 25, "shorter abstracts, every paper still a card"
    assert longest_abstract_shown(tight.html) <= ABSTRACT_LIMITS[1] + 1


def test_overflow_becomes_a_list_of_title_links_and_always_fits() -> None:
    entries = [support.entry(i) for i in range(80)]
    budget = 60_000
    out = Renderer(support.settings(max_html_bytes=budget), verify=False).render(
        support.digest(entries=entries), unsubscribe_url=support.UNSUBSCRIBE
    )
    assert len(out.html.encode()) <= budget
    shown = card_count(out.html)
    assert 0 < shown < 80
    more = 80 - shown
    assert f"And {more} more matching papers" in out.html
    hidden = entries[-1]
    assert f'href="{hidden.link}"' in out.html
    assert f"And {more} more matching papers" in out.text
    assert "80 new papers" in out.subject
