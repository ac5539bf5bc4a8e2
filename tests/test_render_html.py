"""The HTML part: structure mail clients need, safety of feed text, highlights, size."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import test_render_support as support

from newsletter.records import Digest, DigestItem, DigestLinks, RenderedDigest, Section, Topic
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
    links = DigestLinks(support.UNSUBSCRIBE, manage_url=support.MANAGE)
    return Renderer(support.settings(), verify=False).render(digest, links)


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
        .render(support.digest_of(item), support.LINKS)
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
    html = Renderer(support.settings(), verify=False).render(digest, support.LINKS).html
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
    out = Renderer(support.settings(), verify=True).render(digest, support.LINKS)
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
    out = Renderer(support.settings(), verify=False).render(digest, support.ALL_LINKS)
    assert out.html_size <= 100_000
    assert len([1 for t, a in parse(out.html).tags if a.get("class") == "card"]) == 25


def test_right_to_left_language_sets_dir() -> None:
    out = Renderer(support.settings(lang="ar"), verify=False).render(
        support.digest(2), support.LINKS
    )
    assert '<html lang="ar" dir="rtl">' in out.html


def test_digest_item_with_spans_out_of_range_is_harmless() -> None:
    entry = support.entry(3)
    item = DigestItem(
        entry=entry, score=1, topics=("X",), title_spans=((-5, 3), (900, 1000), (2, 1))
    )
    html = Renderer(support.settings()).render(support.digest_of(item), support.LINKS).html
    assert re.search(f'<b class="title-hl"[^>]*>{re.escape(entry.title[:3])}</b>', html)


def test_view_in_browser_manage_link_and_footer_line() -> None:
    settings = support.settings(footer="Paper Digest Ltd\n1 Example Street, 12345 Town\n")
    out = Renderer(settings, verify=False).render(support.digest(3), support.ALL_LINKS)
    doc = parse(out.html)
    hrefs = [a.get("href") for t, a in doc.tags if t == "a"]
    assert hrefs[0] == support.VIEW, "the archived copy is the first link of the mail"
    text = " ".join(doc.text)
    view = out.html.index(">View in browser</a>")
    assert view < out.html.index('class="brand"'), "at the top, above the header"
    assert support.MANAGE in hrefs and "Manage your topics" in text
    assert "reply to this email" not in text
    assert text.rstrip().endswith("Paper Digest Ltd 1 Example Street, 12345 Town")
    assert "Paper Digest Ltd<br>1 Example Street" in out.html
    bare = Renderer(support.settings(), verify=False).render(support.digest(3), support.LINKS)
    assert "View in browser" not in bare.html and "Manage your topics" not in bare.html
    assert "12345 Town" not in bare.html


def px(style: str, prop: str) -> int:
    found = re.search(rf"(?:^|;)\s*{prop}:(\d+)px", style)
    assert found is not None, (prop, style)
    return int(found.group(1))


def test_trending_section_shows_upvotes_prominently() -> None:
    hot = Topic(id="hot", title="Trending on Hugging Face", trending=10)
    entries = [support.entry(0, popularity=321), support.entry(2, popularity=None)]
    items = tuple(support.item(e, (hot.title, "Vision transformers")) for e in entries)
    digest = Digest(
        subscriber=support.digest(1).subscriber,
        sections=(Section(topic=hot, items=items),),
        created=support.NOW,
    )
    out = Renderer(support.settings(), verify=False).render(digest, support.LINKS)
    badge = re.findall(r'<span class="trend-count" style="([^"]*)">([^<]*)</span>', out.html)
    assert [count for _, count in badge] == ["▲ 321"], "one badge: the paper without votes has none"
    title = re.search(r'<h3 class="paper-title" style="([^"]*)"', out.html)
    assert title is not None
    assert px(badge[0][0], "font-size") > px(title.group(1), "font-size"), "larger than the title"
    assert "▲ 321 upvotes" not in out.html, "not repeated in the meta line"
    assert "Matched: Trending on Hugging Face, Vision transformers" in out.html
    assert "  1. ▲ 321 upvotes\n" in out.text


def test_highlights_for_every_client() -> None:
    """Highlighted words keep the link colour in titles, stay visible without their
    background (some clients recolour mail), and carry no bgcolor attribute."""
    entry = support.entry(6, title="Attention is all you need, attention")
    item = support.item(entry, ("Vision transformers",), ("attention",))
    out = Renderer(support.settings(), verify=False).render(support.digest_of(item), support.LINKS)
    title_marks = re.findall(r'<b class="title-hl" style="([^"]*)"', out.html)
    assert len(title_marks) == 2
    assert all("color" not in s.replace("background-color", "") for s in title_marks)
    assert all("text-decoration:underline" in s for s in title_marks)
    marks = re.findall(r'<b class="hl" style="([^"]*)"', out.html)
    assert marks and all("font-weight:bold" in s for s in marks)
    assert not re.search(r"<b [^>]*bgcolor", out.html)
    assert 'bgcolor="#ffffff"' in out.html, "Outlook still gets the page colours"


def test_outlook_and_word_wrapping_details(rendered: RenderedDigest) -> None:
    html = rendered.html
    assert "overflow-wrap" not in html
    cells = [a.get("style") or "" for t, a in parse(html).tags if a.get("class") == "card-cell"]
    assert all("word-break:break-word; word-wrap:break-word" in s for s in cells)
    styles = [a.get("style") or "" for _, a in parse(html).tags]
    with_height = [s for s in styles if "line-height" in s]
    assert with_height and all("mso-line-height-rule:exactly" in s for s in with_height)
    assert re.search(r'<!--\[if mso\]><table [^>]*width="640" style="width:640px"', html)
