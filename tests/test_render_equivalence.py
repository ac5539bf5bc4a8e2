"""The fast renderer's output is byte for byte the straightforward path's output.

One renderer per settings renders many digests in a row, as in a run, so what the fast path
keeps between digests (shapes, cards, encoded lines) is part of what is compared.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2
import pytest
import test_render_support as support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.records import Digest, DigestItem, DigestLinks, Entry, Section, Subscriber, Topic
from newsletter.render import Renderer, environment, render_naive

DEFAULT_TEMPLATES = Path(__file__).parents[1] / "templates"


def assert_same(renderer: Renderer, digest: Digest, links: DigestLinks) -> None:
    fast = renderer.render(digest, links)
    naive = render_naive(renderer.settings, digest, links)
    assert fast.html == naive.html
    assert fast.text == naive.text
    assert fast == naive


def test_fast_render_equals_naive_for_several_subscribers() -> None:
    renderer = Renderer(support.settings(), verify=False)
    cases = [
        (support.digest(12, start=0), support.ALL_LINKS),
        (support.digest(7, start=3, email="other@example.net", name=None), support.LINKS),
        (support.digest(1, start=40, name="Zoë Ünicode", omitted=4), support.ALL_LINKS),
        (support.digest(5, start=10, updated=(support.entry(70, version=3),)), support.LINKS),
        (support.digest(12, start=0, email="again@example.org"), support.LINKS),
    ]
    for digest, links in cases:
        assert_same(renderer, digest, links)
    assert not renderer._naive, "the default templates never need the slow path"


def test_fast_render_equals_naive_when_over_budget() -> None:
    renderer = Renderer(support.settings(max_html_bytes=30_000), verify=False)
    digest = support.digest(entries=support.longest_entries(30), omitted=5)
    assert_same(renderer, digest, support.ALL_LINKS)
    rendered = renderer.render(digest, support.ALL_LINKS)
    assert rendered.html_size <= 30_000
    assert "are listed by title only" in rendered.html and "5 are not included" in rendered.html


def test_premailer_runs_a_bounded_number_of_times_whatever_the_subscribers() -> None:
    """Every digest below has topics no other digest has: the card of a paper differs from
    one subscriber to the next (highlights, "Matched: …"), yet premailer only runs for new
    template shapes, so its count stops growing after the first digests."""
    renderer = Renderer(support.settings(), verify=False)
    counts = []
    for n in range(60):
        digest = personal_digest(n)
        renderer.render(digest, support.ALL_LINKS if n % 2 else support.LINKS)
        counts.append(renderer.inline_calls)
    assert counts[-1] == counts[19], counts
    assert_same(renderer, personal_digest(61), support.ALL_LINKS)


def personal_digest(n: int) -> Digest:
    """A digest whose three topics are this subscriber's own (distinct words highlighted)."""
    words = ("attention", "model", "image", "learning", "data", "language", "the", "video")
    topics = tuple(
        Topic(id=f"p{n}-{i}", title=f"Topic {n}.{i}", query=words[(n + i) % len(words)])
        for i in range(3)
    )
    sections = []
    for i, topic in enumerate(topics):
        word = str(topic.query)
        entries = [support.entry((n * 7 + i * 5 + k) % 70) for k in range(4)]
        items = tuple(support.item(e, (topic.title,), (word,)) for e in entries)
        sections.append(Section(topic=topic, items=items))
    seen: set[str] = set()
    unique = []
    for section in sections:
        items = tuple(it for it in section.items if it.entry.key not in seen)
        seen |= {it.entry.key for it in items}
        if items:
            unique.append(Section(topic=section.topic, items=items))
    subscriber = Subscriber(email=f"p{n}@example.org", topics=topics, schedule="daily")
    return Digest(subscriber=subscriber, sections=tuple(unique), created=support.NOW)


# -- random digests ------------------------------------------------------------------------

HOSTILE = string.ascii_letters + string.digits + " &<>\"'=;:/?#%é—“”▲\u00a0\t·"
text = st.text(alphabet=HOSTILE, max_size=40)
words = st.sampled_from(["attention", "model", "learning", "image", "the", "of", "data"])


@st.composite
def entries(draw: st.DrawFn, index: int) -> Entry:
    base = support.entry(draw(st.integers(0, 79)))
    link = draw(
        st.sampled_from(
            [
                base.link,
                "/relative/link",
                "javascript:alert(1)",
                'https://example.org/a b?x=1&y="2"',
                "https://例え.jp/パス?q=ü",
            ]
        )
    )
    title = draw(st.one_of(st.just(base.title), text.map(lambda t: f"{t} {base.title[:30]}")))
    abstract = draw(st.sampled_from([base.abstract, "", base.abstract[:200] + " <b>x</b> & y"]))
    return replace(
        base,
        key=f"k:{index}",
        title=title,
        link=link,
        abstract=abstract,
        popularity=draw(st.one_of(st.none(), st.integers(0, 5000))),
        authors=tuple(draw(st.lists(text, max_size=6))),
        arxiv_id=draw(st.sampled_from([base.arxiv_id, None])),
    )


@st.composite
def digests(draw: st.DrawFn) -> tuple[Digest, DigestLinks]:
    topic_count = draw(st.integers(1, 4))
    topics = tuple(
        Topic(
            id=f"t{i}",
            title=draw(st.one_of(st.just(f"Topic {i}"), text)),
            query="x",
            trending=draw(st.sampled_from([None, None, 10])),
        )
        for i in range(topic_count)
    )
    titles = st.sampled_from([t.title for t in topics])
    counter = iter(range(1000))
    sections = []
    for topic in topics:
        items = []
        for _ in range(draw(st.integers(0, 5))):
            entry = draw(entries(next(counter)))
            hl = tuple(draw(st.lists(words, max_size=3)))
            spans = support.spans_of(entry.abstract, hl)
            items.append(
                DigestItem(
                    entry=entry,
                    score=1.0,
                    topics=tuple(draw(st.lists(titles, min_size=1, max_size=3))),
                    title_spans=support.spans_of(entry.title, hl)
                    + tuple(draw(st.lists(st.tuples(st.integers(-5, 90), st.integers(-5, 90))))),
                    abstract_spans=spans,
                )
            )
        if items:
            sections.append(Section(topic=topic, items=tuple(items)))
    subscriber = Subscriber(
        email=draw(st.sampled_from(["a@example.org", "o'hara+x@example.org"])),
        topics=topics,
        schedule="daily",
        name=draw(st.one_of(st.none(), text)),
    )
    updated = tuple(draw(entries(500 + i)) for i in range(draw(st.integers(0, 2))))
    digest = Digest(
        subscriber=subscriber,
        sections=tuple(sections),
        created=support.NOW,
        updated=updated,
        omitted=draw(st.integers(0, 3)) * draw(st.integers(0, 9)),
    )
    url = st.sampled_from(
        [None, "https://digest.example.org/d/x?a=1&b=2", "https://digest.example.org/é ü"]
    )
    links = DigestLinks(
        unsubscribe_url=draw(st.sampled_from([support.UNSUBSCRIBE, "https://x.org/u?t=a&b=<c>"])),
        manage_url=draw(url),
        view_url=draw(url),
        all_url=draw(url),
    )
    return digest, links


OVERRIDE_CARD = """\
{%- set trending = trending|default(false) -%}
<table role="presentation" class="card"><tr><td class="card-cell">
<p class="paper-title">{{ highlight(card.title_runs) }} ({{ card.title|length }} chars)</p>
{% if card.upvotes is not none and card.upvotes > 100 %}
  <p class="trend">popular: {{ card.upvotes }}</p>
{% endif %}
<p class="meta">{{ card.authors|upper }} · {{ card.topics|join(" + ") }}</p>
{% for run in card.excerpt %}
  {% if run.marked %}<i>{{ run.text }}</i>{% else %}{{ run.text }}{% endif %}
{% endfor %}
</td></tr></table>
"""


@pytest.fixture(scope="module")
def renderers(tmp_path_factory: pytest.TempPathFactory) -> list[Renderer]:
    """Defaults; a small budget and a footer; override templates (a card that transforms
    values and loops over runs itself, a skeleton doing arithmetic on a count)."""
    folder = tmp_path_factory.mktemp("override")
    (folder / "_card.html.j2").write_text(OVERRIDE_CARD, encoding="utf-8")
    skeleton = (DEFAULT_TEMPLATES / "digest.html.j2").read_text(encoding="utf-8")
    (folder / "digest.html.j2").write_text(
        skeleton.replace("{{ summary }}", "{{ summary }} — {{ paper_count * 2 }} halves"),
        encoding="utf-8",
    )
    return [
        Renderer(support.settings(), verify=False),
        Renderer(
            support.settings(
                max_html_bytes=12_000, footer="Example Ltd · 1 Road & <Co>\n\n  12345  Town\t"
            ),
            verify=False,
        ),
        Renderer(support.settings(template_dir=folder), verify=False),
    ]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.integers(0, 2), st.lists(digests(), min_size=1, max_size=3))
def test_random_digests_render_the_same_both_ways(
    renderers: list[Renderer], variant: int, cases: list[tuple[Digest, DigestLinks]]
) -> None:
    renderer = renderers[variant]
    for digest, links in cases:
        assert_same(renderer, digest, links)
    assert not renderer._naive


def test_a_card_seen_before_is_not_rendered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """What many subscribers share is built once: a second subscriber with the same papers
    costs the two page skeletons, no card and no section heading."""
    renderer = Renderer(support.settings(), verify=False)
    renderer.render(support.digest(9), support.ALL_LINKS)
    rendered: list[str] = []
    original = environment.render

    def counting(template: jinja2.Template, context: Mapping[str, Any]) -> str:
        rendered.append(str(template.name))
        return original(template, context)

    again = support.digest(9, email="second@example.org", name="Second Reader")
    with monkeypatch.context() as patch:
        patch.setattr(environment, "render", counting)
        renderer.render(again, support.LINKS)
    assert rendered == ["digest.html.j2", "digest.txt.j2"]
    assert_same(renderer, again, support.LINKS)
