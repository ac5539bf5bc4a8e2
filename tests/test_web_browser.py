"""The web pages in headless Chromium (Debian's, driven by Playwright): a phone and a desktop,
light and dark, the keyboard alone, no JavaScript, search, and an archived digest.

``NEWSLETTER_SCREENSHOT=1`` also rewrites ``docs/web-day.png`` (the README's picture) from
the demo data; a normal run never touches it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.app import open_app
from newsletter.cli import main
from newsletter.demo import SAMPLE_DAILY_PAPERS_NAME, sample_daily_papers
from newsletter.store import Store
from newsletter.web import running, web_app
from tests.browser_support import NEEDS_CHROMIUM, chromium
from tests.conftest import MAIN_YAML, NOW, Project, Sink
from tests.web_support import Clock, add, paper, serving, store_url

SCREENSHOT = Path(__file__).parent.parent / "docs" / "web-day.png"
SECRET = "s3cret-for-tests-0123456789"

pytestmark = NEEDS_CHROMIUM


browser = pytest.fixture(scope="module", name="browser")(chromium)


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(store_url(database_url, tmp_path))
    add(
        opened,
        [
            paper(
                1,
                popularity=87,
                title="Sparse attention with an unbreakablewordthatgoesonandonforeverandever",
                abstract="Attention over long documents. Code: https://github.com/example/sparse.",
                categories=("cs.CL", "cs.LG"),
            ),
            paper(2, popularity=12, title="Robots that learn to walk"),
            paper(3, title="A study of graph networks"),
        ],
    )
    yield opened
    opened.close()


def overflow(page: Any) -> int:
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
def test_the_day_page_reads_well_on_a_phone_and_a_desktop(
    browser: Any, store: Store, width: int, scheme: str
) -> None:
    with serving(store, Clock()) as url:
        page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
        try:
            assert page.goto(url + "/").status == 200
            assert overflow(page) <= 0, f"horizontal overflow at {width}px"
            headings = page.locator("ol.papers h2")
            assert headings.all_inner_texts()[:2] == [
                "Sparse attention with an unbreakablewordthatgoesonandonforeverandever",
                "Robots that learn to walk",
            ]
            for i in range(headings.count()):
                box = headings.nth(i).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert page.locator(".votes").first.inner_text().startswith("▲ 87")
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (background == "rgb(13, 17, 23)") == (scheme == "dark"), background
            text = page.evaluate("getComputedStyle(document.body).color")
            assert (text == "rgb(230, 237, 243)") == (scheme == "dark"), text
        finally:
            page.close()


def test_the_keyboard_alone_reaches_everything_with_visible_focus(
    browser: Any, store: Store
) -> None:
    with serving(store, Clock()) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(url + "/")
            page.keyboard.press("Tab")
            skip = page.locator("a.skip")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"
            box = skip.bounding_box()
            assert box is not None and box["x"] >= 0 and box["y"] >= 0  # shown when focused
            assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "content"
            page.goto(url + "/")
            seen = []
            for _ in range(6):
                page.keyboard.press("Tab")
                seen.append(page.evaluate("document.activeElement.outerHTML.slice(0, 60)"))
            assert any('id="q"' in s for s in seen), seen
            assert page.get_by_label("Search papers").count() == 1
            assert page.locator("main").count() == 1 and page.locator("header nav").count() == 1
            assert page.get_by_role("search").count() == 1
        finally:
            page.close()


def test_abstracts_open_without_javascript(browser: Any, store: Store) -> None:
    with serving(store, Clock()) as url:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        try:
            page.goto(url + "/")
            abstract = page.locator("details p").first
            assert not abstract.is_visible()
            page.locator("summary").first.click()
            assert abstract.is_visible()
            assert "Attention over long documents" in abstract.inner_text()
        finally:
            context.close()


def test_search_from_the_box_marks_the_words_and_explains_a_mistake(
    browser: Any, store: Store
) -> None:
    with serving(store, Clock()) as url:
        page = browser.new_page(viewport={"width": 375, "height": 800})
        try:
            page.goto(url + "/")
            box = page.get_by_label("Search papers")
            box.fill("attention OR robot*")
            with page.expect_navigation() as navigation:
                box.press("Enter")
            assert navigation.value.status == 200
            marks = page.locator("ol.papers mark").all_text_contents()  # also in closed abstracts
            assert {m.lower() for m in marks} == {"attention", "robots"}
            assert page.locator("mark").first.is_visible()
            assert overflow(page) <= 0

            box = page.get_by_label("Search papers")
            box.fill('title:"sparse attention')
            with page.expect_navigation() as navigation:
                box.press("Enter")
            assert navigation.value.status == 400
            caret = page.locator(".problem pre")
            assert caret.is_visible()
            lines = caret.inner_text().split("\n")
            assert lines[0] == 'title:"sparse attention' and lines[1].strip() == "^"
            assert page.get_by_label("Search papers").input_value() == 'title:"sparse attention'
        finally:
            page.close()


def test_the_view_in_browser_link_from_a_received_mail_opens_the_digest(
    browser: Any, project: Project, smtp_sink: Sink
) -> None:
    """A real `send` to aiosmtpd; the link is taken from the mail as received, followed in
    Chromium: the digest reads as sent, on a phone and in dark mode, without the address."""
    project.env_file(
        SMTP_HOST=smtp_sink.host,
        SMTP_PORT=str(smtp_sink.port),
        SMTP_SECURITY="none",
        NEWSLETTER_SECRET=SECRET,
    )
    assert main(["send", "--config", str(project.config)], clock=lambda: NOW) == 0
    received = {
        e.rcpt_tos[0]: m for e, m in zip(smtp_sink.envelopes, smtp_sink.messages(), strict=True)
    }
    html = received["alice@example.org"].get_body(preferencelist=("html",)).get_content()
    link = re.search(r'<a class="view-link" href="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    base = "https://digest.example.org/news"
    assert link.startswith(f"{base}/d/")
    path = "/news" + link[len(base) :]  # the test server answers under /news too
    with (
        open_app(project.root / ".env", project.config, lambda: NOW) as app,
        running(web_app(app)) as url,
    ):
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": 375, "height": 800}, color_scheme=scheme)
            try:
                assert page.goto(url + path).status == 200
                text = page.inner_text("body")
                assert "alice@example.org" not in text and "Unsubscribe" not in text
                assert "View in browser" not in text
                titles = page.locator("h3.paper-title")
                assert titles.count() > 0 and titles.first.is_visible()
                assert overflow(page) <= 0
                shown = page.evaluate(
                    "getComputedStyle(document.querySelector('.container')).backgroundColor"
                )
                assert (shown == "rgb(22, 27, 34)") == (scheme == "dark"), shown
                if scheme == "light":  # alice's digest was cut: it links to every match
                    assert page.locator(f'a[href="{link}/all"]').first.is_visible()
                    assert page.goto(url + path + "/all").status == 200
                    assert page.locator("ol.papers li").count() == 36
                    assert overflow(page) <= 0
            finally:
                page.close()


@pytest.mark.sqlite_only
@pytest.mark.skipif(
    not os.environ.get("NEWSLETTER_SCREENSHOT"), reason="set NEWSLETTER_SCREENSHOT=1 to redraw"
)
def test_redraw_the_readme_screenshot(browser: Any, project: Project) -> None:
    """The demo's day page as the README shows it (the demo's feeds, fetched for real)."""
    config = project.config.parent
    (config / SAMPLE_DAILY_PAPERS_NAME).write_text(sample_daily_papers(NOW), encoding="utf-8")
    project.write(
        MAIN_YAML.replace("title: Test Digest", "title: Paper Digest").replace(
            "    url: sample-feed.atom\n",
            "    url: sample-feed.atom\n  - name: sample-upvotes\n    type: hf-daily-papers\n"
            f"    url: {SAMPLE_DAILY_PAPERS_NAME}\n",
        )
        + "timezone: UTC\nsubscribe:\n  enabled: true\n"
    )
    project.env_file(NEWSLETTER_SECRET=SECRET)
    assert main(["fetch", "--config", str(project.config)], clock=lambda: NOW) == 0
    with (
        open_app(project.root / ".env", project.config, lambda: NOW) as app,
        running(web_app(app)) as url,
    ):
        page = browser.new_page(viewport={"width": 820, "height": 720})
        try:
            page.goto(f"{url}/news/")
            page.locator("summary").nth(1).click()
            page.screenshot(path=str(SCREENSHOT))
        finally:
            page.close()
    assert SCREENSHOT.stat().st_size < 150_000
    assert re.match(rb"\x89PNG", SCREENSHOT.read_bytes()[:4])
