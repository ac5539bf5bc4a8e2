"""The fast renderer's output is byte-for-byte the straightforward path's output."""

from __future__ import annotations

import test_render_support as support

from newsletter.render import Renderer, render_naive


def test_fast_render_equals_naive_for_several_subscribers() -> None:
    settings = support.settings()
    renderer = Renderer(settings, verify=False)
    cases = [
        support.digest(12, start=0),
        support.digest(7, start=3, email="other@example.net", name=None),
        support.digest(1, start=40, name="Zoë Ünicode"),
        support.digest(5, start=10, updated=(support.entry(70, version=3),)),
    ]
    for i, digest in enumerate(cases):
        manage = support.MANAGE if i % 2 == 0 else None
        fast = renderer.render(digest, unsubscribe_url=support.UNSUBSCRIBE, manage_url=manage)
        naive = render_naive(
            settings, digest, unsubscribe_url=support.UNSUBSCRIBE, manage_url=manage
        )
        assert fast == naive
    # The shared work was reused: cards of the first digest were not inlined again.
    assert renderer._shapes and len(renderer._shapes) <= 3


def test_fast_render_equals_naive_when_over_budget() -> None:
    settings = support.settings(max_html_bytes=30_000)
    digest = support.digest(entries=support.longest_entries(30))
    fast = Renderer(settings, verify=False).render(
        digest, unsubscribe_url=support.UNSUBSCRIBE, manage_url=support.MANAGE
    )
    naive = render_naive(
        settings, digest, unsubscribe_url=support.UNSUBSCRIBE, manage_url=support.MANAGE
    )
    assert fast == naive
    assert len(fast.html.encode()) <= 30_000
    assert "more matching papers" in fast.html
