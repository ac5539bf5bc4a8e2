"""Sign-up in headless Chromium (Debian's, driven by Playwright): the time zone is prefilled
by the page's own script, the confirmation link is followed and confirmed with a click,
and the manage page changes a topic."""

from __future__ import annotations

from typing import Any

import pytest

from newsletter.records import SubscriberStatus
from tests.browser_support import NEEDS_CHROMIUM, chromium
from tests.conftest import Project, Sink
from tests.test_web_subscribe import link, serving

pytestmark = NEEDS_CHROMIUM


browser = pytest.fixture(scope="module", name="browser")(chromium)


def test_sign_up_confirm_and_manage_in_a_browser(
    browser: Any, project: Project, smtp_sink: Sink
) -> None:
    with serving(project, smtp_sink) as served:
        context = browser.new_context(timezone_id="Asia/Tokyo")
        errors: list[str] = []
        try:
            tab = context.new_page()
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.goto(f"{served.url}/subscribe")
            assert tab.input_value("#timezone") == "Asia/Tokyo"  # set by the page's script
            tab.fill("#email", "hana@example.org")
            tab.check('input[name=topics][value="ssl"]')
            tab.click("form.signup button[type=submit]")
            assert tab.locator("h1").inner_text() == "Check your mail"

            served.sender.send_due()
            [mail] = served.mail_to("hana@example.org")
            tab.goto(link(mail, "confirm"))
            assert served.status("hana@example.org") is SubscriberStatus.PENDING
            tab.click("main button[type=submit]")
            assert tab.locator("h1").inner_text() == "You are subscribed"
            assert served.status("hana@example.org") is SubscriberStatus.ACTIVE
            stored = served.app.store.stored_subscriber("hana@example.org")
            assert stored is not None and stored.choice.timezone == "Asia/Tokyo"

            tab.click("text=Manage your subscription")
            assert tab.is_checked('input[name=topics][value="ssl"]')
            assert tab.input_value("#timezone") == "Asia/Tokyo"
            tab.check('input[name=topics][value="speech"]')
            tab.uncheck('input[name=topics][value="ssl"]')
            tab.click("button[value=change]")
            assert "Changes apply from your next digest" in tab.locator(".notice").inner_text()
            stored = served.app.store.stored_subscriber("hana@example.org")
            assert stored is not None and stored.choice.topics == ("speech",)
            # no CSP violation, no script error (the browser's own /favicon.ico 404 aside)
            assert [e for e in errors if not e.startswith("Failed to load resource")] == []
        finally:
            context.close()
