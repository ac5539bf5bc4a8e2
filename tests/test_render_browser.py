"""The inlined digest in headless Chromium: phone and desktop widths, light and dark."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_render_support as support

from newsletter.render import Renderer
from tests.browser_support import CHROMIUM, NEEDS_CHROMIUM

pytestmark = NEEDS_CHROMIUM


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 800])
def test_digest_reads_well_in_chromium(width: int, scheme: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    long_title = support.entry(
        9, title="Anunbreakablewordthatisfartoolongforaphonescreen" * 2 + " and attention"
    )
    digest = support.digest(entries=[long_title, *support.longest_entries(8)], omitted=3)
    settings = support.settings(footer="Paper Digest Ltd, 1 Example Street, 12345 Town")
    html = Renderer(settings, verify=False).render(digest, support.ALL_LINKS).html
    titles = [" ".join(item.entry.title.split()) for item in digest.items]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
            page.set_content(html)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"horizontal overflow of {overflow}px at {width}px"
            for title in titles:
                heading = page.locator("h3.paper-title", has_text=title[:40]).first
                assert heading.is_visible(), title
                box = heading.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            background = page.evaluate(
                "getComputedStyle(document.querySelector('.container')).backgroundColor"
            )
            dark = background == "rgb(22, 27, 34)"
            assert dark == (scheme == "dark"), background
            assert not page.locator(".preheader").is_visible()
            for text in ("View in browser", "And 3 more matches", "12345 Town"):
                assert page.get_by_text(text).first.is_visible(), text
            shot = tmp_path / f"digest-{width}-{scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
