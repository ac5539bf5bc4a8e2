"""The HTML part: structure mail clients need, safety of feed text, highlights, size."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import test_render_support as support

from newsletter.records import DigestItem, RenderedDigest
from newsletter.render import Renderer


class Collect(HTMLParser):
    """Every start tag with its attributes, and the text outside <style>/<title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def parse(html: str) -> Collect:
    collector = Collect()
    collector.feed(html)
    return collector


@pytest.fixture(scope="module")
def rendered() -> RenderedDigest:
    digest = support.digest(12, updated=(support.entry(50, version=2),))
    return Renderer(support.settings(), verify=False).render(
        digest, unsubscribe_url=support.UNSUBSCRIBE, manage_url=support.MANAGE
    )


def test_layout_is_email_safe(rendered: RenderedDigest) -> None:
    doc = parse(rendered.html)
    tags = [t for t, _ in doc.tags]
    assert rendered.html.startswith("<!DOCTYPE html>")
    html_attrs = dict(doc.tags)["html"]
    assert html_attrs["lang"] == "en" and html_attrs["dir"] == "ltr"
    assert "script" not in tags
    assert not [a for t, a in doc.tags if t == "link"], "no external stylesheet"
    assert "@import" not in rendered.html and "<script" not in rendered.html.lower()
    tables = [a for t, a in doc.tags if t == "table"]
    assert tables and all(a.get("role") == "presentation" for a in tables)
    assert all(a.get("alt") for t, a in doc.tags if t == "img")
    # Everything essential is inline (Gmail drops <style> for many accounts).
    cards = [a for t, a in doc.tags if a.get("class") == "card-cell"]
    assert len(cards) == 12 and all("font-family" in (a.get("style") or "") for a in cards)


def test_every_link_is_absolute(rendered: RenderedDigest) -> None:
    hrefs = [a["href"] for t, a in parse(rendered.html).tags if t == "a"]
    assert len(hrefs) > 12 * 2
    assert all(h and re.match(r"https?://[^/\s]+", h) for h in hrefs), hrefs


def test_media_queries_keep_important(rendered: RenderedDigest) -> None:
    style = re.search(r"<style[^>]*>(.*?)</style>", rendered.html, re.S)
    assert style is not None
    css = style.group(1)
    assert "prefers-color-scheme: dark" in css and "max-width: 480px" in css
    assert "!important" in css
    # Nothing outside @media is left in <style>: it was all inlined.
    assert css.strip().startswith("@media")
    assert "!important" not in re.sub(r"<style.*?</style>", "", rendered.html, flags=re.S)


def test_header_preheader_sections_and_footer(rendered: RenderedDigest) -> None:
    text = " ".join(parse(rendered.html).text)
    assert "12 new papers for your 3 topics" in text
    assert "26 November 2026" in text
    for topic in support.TOPIC_WORDS:
        assert topic in text
    pre = re.search(r'<div class="preheader" style="([^"]*)">([^<]*)</div>', rendered.html)
    assert pre is not None and "display:none" in pre.group(1)
    assert pre.group(2).startswith(support.entry(0).title[:30])
    assert "Unsubscribe" in text and "reader@example.com" in text
    assert 'href="https://digest.example.org/u/tok3n-abc?list=papers&amp;x=1"' in rendered.html
    assert 'href="https://digest.example.org/manage/tok3n-abc"' in rendered.html
    assert "Updated: 1 paper you already got" in text
    assert support.entry(50).title in text


def test_card_content() -> None:
    entry = support.entry(6, popularity=42, authors=("A", "B", "C", "D", "E", "F"))
    item = support.item(entry, ("Vision transformers", "Segmentation"), ("transformer",))
    html = (
        Renderer(support.settings(), verify=False)
        .render(support.digest_of(item), unsubscribe_url=support.UNSUBSCRIBE)
        .html
    )
    text = " ".join(parse(html).text)
    assert "A, B, C and 3 others" in text
    assert "▲ 42 upvotes" in text
    assert "Matched: Vision transformers, Segmentation" in text
    assert "reply to this email" in text  # no manage_url
    hrefs = [a["href"] for t, a in parse(html).tags if t == "a"]
    assert f"https://arxiv.org/pdf/{entry.arxiv_id}" in hrefs
    marked = re.findall(r'<b class="hl"[^>]*>([^<]*)</b>', html)
    assert len(marked) >= 2 and all(m.lower().startswith("transformer") for m in marked)


def test_code_link_when_abstract_mentions_a_repository() -> None:
    entry = support.entry(0, abstract="We release it at https://github.com/acme/tool. Enjoy.")
    digest = support.digest(entries=[entry])
    html = (
        Renderer(support.settings(), verify=False)
        .render(digest, unsubscribe_url=support.UNSUBSCRIBE)
        .html
    )
    assert '<a class="link" href="https://github.com/acme/tool"' in html


def test_feed_text_is_escaped_and_control_characters_never_reach_html() -> None:
    evil = support.entry(
        1,
        title="<script>alert(1)</script> Attention\x85 is all\x9f you need",
        abstract=(
            '<p onclick="steal()">Hello <b>bold</b> <form action="https://evil.example/">'
            '<input name=x></form><a href="javascript:alert(2)">click</a>'
            "<img src=x onerror=alert(3)> <style>body{display:none}</style>\x80\x9c"
        ),
        link="javascript:alert(4)",
        authors=("Robert'); DROP TABLE--", "<i>Eve</i>"),
        categories=('"><svg onload=alert(5)>',),
    )
    digest = support.digest(entries=[evil])
    out = Renderer(support.settings(), verify=True).render(
        digest, unsubscribe_url=support.UNSUBSCRIBE
    )
    doc = parse(out.html)
    tags = {t for t, _ in doc.tags}
    assert not tags & {"script", "form", "input", "img", "svg", "iframe"}
    assert not [a for _, a in doc.tags for k in a if k.startswith("on")]
    assert all(not (a.get("href") or "").startswith("javascript") for _, a in doc.tags)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    text = " ".join(doc.text)
    assert "<script>alert(1)</script> Attention is all you need" in text
    assert not re.search("[\x80-\x9f]", out.html + out.text + out.subject)
    assert "Abstract: javascript" not in out.text  # unsafe links are not written out


def test_html_fits_the_budget_for_25_longest_papers() -> None:
    digest = support.digest(entries=support.longest_entries(25))
    out = Renderer(support.settings(), verify=False).render(
        digest, unsubscribe_url=support.UNSUBSCRIBE, manage_url=support.MANAGE
    )
    assert len(out.html.encode("utf-8")) <= 100_000
    assert len([1 for t, a in parse(out.html).tags if a.get("class") == "card"]) == 25


def test_right_to_left_language_sets_dir() -> None:
    out = Renderer(support.settings(lang="ar"), verify=False).render(
        support.digest(2), unsubscribe_url=support.UNSUBSCRIBE
    )
    assert '<html lang="ar" dir="rtl">' in out.html


def test_digest_item_with_spans_out_of_range_is_harmless() -> None:
    entry = support.entry(3)
    item = DigestItem(
        entry=entry, score=1, topics=("X",), title_spans=((-5, 3), (900, 1000), (2, 1))
    )
    html = (
        Renderer(support.settings())
        .render(support.digest_of(item), unsubscribe_url=support.UNSUBSCRIBE)
        .html
    )
    assert re.search(f'<b class="hl"[^>]*>{re.escape(entry.title[:3])}</b>', html)
