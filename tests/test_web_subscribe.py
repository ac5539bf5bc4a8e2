"""Sign-up, confirmation and the manage page over real HTTP (waitress), with a real store
(SQLite and PostgreSQL) and a real SMTP server, built the way ``serve`` builds the app."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from newsletter.app import App, open_app
from newsletter.cli import main
from newsletter.records import SubscriberOrigin, SubscriberStatus
from newsletter.subscriptions import roster
from newsletter.subscriptions.confirmations import ConfirmationSender
from newsletter.tokens import make_token
from newsletter.web import SignupLimits, running, web_app
from newsletter.web.__init__ import confirmation_sender
from tests.conftest import NOW, Project, Sink, free_port
from tests.web_support import Clock

SECRET = "subscribe-web-secret-0123456789"
SUBSCRIBE_ON = "subscribe:\n  enabled: true\n  confirm_hours: 48\n"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Served:
    url: str
    """``http://127.0.0.1:<port>/news``: the config's ``base_url``, so mailed links work."""
    app: App
    clock: Clock
    sender: ConfirmationSender
    sink: Sink
    project: Project
    env: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url.removesuffix("/news"), timeout=10)

    def send(self, at: datetime) -> None:
        """``newsletter send`` at ``at``; the web app's clock moves there too."""
        self.clock.now = at
        argv = ["send", "--config", str(self.project.config), "--env-file", str(self.env)]
        assert main(argv, clock=lambda: at) == 0

    def status(self, email: str) -> SubscriberStatus | None:
        found = roster(self.app.config, self.app.store, self.clock()).find(email)
        return None if found is None else found.status

    def mail_to(self, email: str) -> list[EmailMessage]:
        return [m for m in self.sink.messages() if m["To"].addresses[0].addr_spec == email]


@contextmanager
def serving(
    project: Project,
    sink: Sink,
    *,
    extra: str = SUBSCRIBE_ON,
    limits: SignupLimits | None = None,
    trusted_proxies: int = 0,
) -> Iterator[Served]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/news"
    text = project.config.read_text(encoding="utf-8")
    text = text.replace("https://digest.example.org/news", url)
    text += extra + f"trusted_proxies: {trusted_proxies}\n"
    project.config.write_text(text, encoding="utf-8")
    env = project.env_file(
        NEWSLETTER_SECRET=SECRET,
        SMTP_HOST=sink.host,
        SMTP_PORT=str(sink.port),
        SMTP_SECURITY="none",
    )
    clock = Clock(NOW)
    with open_app(env, project.config, clock) as app:
        sender = confirmation_sender(app)
        wsgi = web_app(app, sender, signup_limits=limits)
        with running(wsgi, port=port, trusted_proxies=trusted_proxies):
            yield Served(url, app, clock, sender, sink, project, env)


def add_papers(project: Project, published: datetime, *titles: str) -> None:
    """New entries in the sample feed (the next ``send`` fetches them)."""
    feed = project.root / "config" / "sample-feed.atom"
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = "".join(
        f"""  <entry>
    <title>{title}</title>
    <id>urn:test:{abs(hash(title))}</id>
    <link rel="alternate" href="https://example.org/{abs(hash(title))}"/>
    <published>{stamp}</published>
    <summary>{title}.</summary>
  </entry>
"""
        for title in titles
    )
    before = feed.stat().st_mtime
    feed.write_text(feed.read_text().replace("</feed>", entries + "</feed>"))
    # A local feed's mtime is its Last-Modified, in whole seconds: move it on by 2 s from the
    # later of the old stamp and now, so two edits within one second still differ.
    mtime = max(feed.stat().st_mtime, before) + 2
    os.utime(feed, (mtime, mtime))


def csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def sign_up(client: httpx.Client, email: str, *topics: str, **fields: str) -> httpx.Response:
    """What a browser does: load the form (session cookie, CSRF token), then submit it."""
    form = client.get("/news/subscribe")
    assert form.status_code == 200
    data: dict[str, str | list[str]] = {
        "csrf_token": csrf(form.text),
        "email": email,
        "topics": list(topics),
        "schedule": "daily",
        "timezone": "Europe/Berlin",
        "website": "",
        **fields,
    }
    return client.post("/news/subscribe", data=data)


def link(message: EmailMessage, path: str) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(rf"http://127\.0\.0\.1:\d+/news/{path}\?token=\S+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def without_csrf(html: str) -> str:
    return CSRF.sub('name="csrf_token" value=""', html)


def test_sign_up_confirm_receive_manage_and_receive_the_new_topics(
    project: Project, smtp_sink: Sink
) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        form = browser.get("/news/subscribe")
        assert 'value="ssl"' in form.text and 'value="trending"' in form.text
        assert "data-detect-timezone" in form.text  # the script may prefill this field
        assert "script-src 'self'" in form.headers["Content-Security-Policy"]
        done = sign_up(browser, "Carol@Example.org", "speech", name="Carol")
        assert done.status_code == 200 and "Check your mail" in done.text
        assert served.status("carol@example.org") is SubscriberStatus.PENDING

        assert served.sender.send_due().sent == 1
        [mail] = served.mail_to("carol@example.org")
        confirm_url = link(mail, "confirm")
        page = browser.get(confirm_url)  # what a mail scanner does: changes nothing
        assert page.status_code == 200 and ">Confirm</button>" in page.text
        assert served.status("carol@example.org") is SubscriberStatus.PENDING
        token = confirm_url.split("token=", 1)[1]
        confirmed = browser.post(
            "/news/confirm", data={"csrf_token": csrf(page.text), "token": token}
        )
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
        assert "/news/manage?token=" in confirmed.text
        assert served.status("carol@example.org") is SubscriberStatus.ACTIVE
        stored = served.app.store.stored_subscriber("carol@example.org")
        assert stored is not None and stored.origin is SubscriberOrigin.WEB
        assert stored.choice.topics == ("speech",) and stored.confirmed_from == "127.0.0.1"
        again = browser.get(confirm_url)
        assert again.status_code == 200 and "Already confirmed" in again.text

        # a new subscriber's first digest has what arrives after confirming
        add_papers(project, NOW, "Fast speech synthesis with flows", "Self-supervised hashing")
        served.send(NOW + timedelta(hours=1))
        [_confirmation, digest] = served.mail_to("carol@example.org")
        text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Fast speech synthesis with flows" in text
        assert "Self-supervised hashing" not in text

        manage_url = link(digest, "manage")
        with served.client() as other_browser:  # the digest opened elsewhere: a new session
            manage = other_browser.get(manage_url)
            assert manage.status_code == 200 and "carol@example.org" in manage.text
            assert 'value="speech" checked' in manage.text
            changed = other_browser.post(
                "/news/manage",
                data={
                    "csrf_token": csrf(manage.text),
                    "token": manage_url.split("token=", 1)[1],
                    "action": "change",
                    "topics": ["ssl"],
                    "schedule": "daily",
                    "timezone": "Asia/Tokyo",
                    "name": "Carol",
                },
            )
        assert changed.status_code == 200, changed.text[-1500:]
        assert "Changes apply from your next digest" in changed.text
        assert 'value="ssl" checked' in changed.text

        add_papers(
            project, NOW + timedelta(days=1), "Speech generation for all", "Self-supervised sight"
        )
        served.send(NOW + timedelta(days=1, hours=1))
        second = served.mail_to("carol@example.org")[2]
        text = second.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Self-supervised sight" in text and "Speech generation" not in text


def test_the_same_answer_for_known_and_new_addresses_and_a_filled_honeypot(
    project: Project, smtp_sink: Sink
) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        new = sign_up(browser, "new@example.org", "ssl")
        known = sign_up(browser, "alice@example.org", "ssl")  # in subscribers.yaml
        repeat = sign_up(browser, "new@example.org", "ssl")
        assert new.status_code == known.status_code == repeat.status_code == 200
        assert without_csrf(new.text) == without_csrf(known.text) == without_csrf(repeat.text)
        queued = len(served.app.store.outbox_rows())

        bot = sign_up(browser, "victim@example.org", "ssl", website="https://spam.example")
        assert bot.status_code == 200 and without_csrf(bot.text) == without_csrf(new.text)
        assert len(served.app.store.outbox_rows()) == queued
        assert served.status("victim@example.org") is None


def test_a_post_without_a_valid_csrf_token_is_refused(project: Project, smtp_sink: Sink) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        data = {"email": "eve@example.org", "topics": "ssl"}
        missing = browser.post("/news/subscribe", data=data)
        assert missing.status_code == 400 and "This form has expired" in missing.text
        browser.get("/news/subscribe")  # a session, but a token from somewhere else
        forged = browser.post("/news/subscribe", data={**data, "csrf_token": "x" * 40})
        assert forged.status_code == 400 and "reload the page" in forged.text
        with served.client() as stranger:  # a real token from another session
            token = csrf(stranger.get("/news/subscribe").text)
        stolen = browser.post("/news/subscribe", data={**data, "csrf_token": token})
        assert stolen.status_code == 400
        manage = make_token("alice@example.org", SECRET, now=NOW, purpose="manage")
        paused = browser.post("/news/manage", data={"token": manage, "action": "pause"})
        assert paused.status_code == 400
        assert served.status("eve@example.org") is None
        assert served.status("alice@example.org") is SubscriberStatus.ACTIVE


def test_problems_are_shown_next_to_their_fields_with_the_values_kept(
    project: Project, smtp_sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An own topic is a query (checked) without the semantic extra, plain words with it:
    # the query's problem is what this test shows, whichever extras are installed.
    monkeypatch.setattr("newsletter.checks.semantic_problem", lambda: "not installed")
    with serving(project, smtp_sink) as served, served.client() as browser:
        r = sign_up(
            browser,
            "not-an-address",
            "ssl",
            timezone="Mars/Olympus",
            own_topic='"unclosed phrase',
            name="Someone",
        )
        assert r.status_code == 400
        assert 'id="email-problem"' in r.text and 'id="timezone-problem"' in r.text
        assert 'id="own_topic-problem"' in r.text
        assert 'value="not-an-address"' in r.text and 'value="Someone"' in r.text
        assert "&#34;unclosed phrase" in r.text and 'value="ssl" checked' in r.text
        assert served.app.store.outbox_rows() == []


def test_the_day_page_carries_a_compact_form_that_signs_up(
    project: Project, smtp_sink: Sink
) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        day = browser.get("/news/")
        assert day.status_code == 200 and 'action="/news/subscribe"' in day.text
        assert day.headers["Cache-Control"].startswith("private")
        again = browser.get("/news/", headers={"If-None-Match": day.headers["ETag"]})
        assert again.status_code == 304
        r = browser.post(
            "/news/subscribe",
            data={"csrf_token": csrf(day.text), "email": "dora@example.org", "topics": "ssl"},
        )
        assert r.status_code == 200 and "Check your mail" in r.text
        assert served.status("dora@example.org") is SubscriberStatus.PENDING


def test_too_many_sign_ups_from_one_address_are_refused(project: Project, smtp_sink: Sink) -> None:
    limits = SignupLimits(per_client="2 per minute", overall="100 per hour")
    with serving(project, smtp_sink, limits=limits) as served, served.client() as browser:
        for n in range(2):
            assert sign_up(browser, f"p{n}@example.org", "ssl").status_code == 200
        spoofed = {"X-Forwarded-For": "203.0.113.9"}  # no trusted proxy: ignored
        token = csrf(browser.get("/news/subscribe").text)
        r = browser.post(
            "/news/subscribe",
            data={"csrf_token": token, "email": "p3@example.org", "topics": "ssl"},
            headers=spoofed,
        )
        assert r.status_code == 429 and "Too many sign-ups" in r.text
        assert served.status("p3@example.org") is None


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited_and_all_together_too(
    project: Project, smtp_sink: Sink
) -> None:
    limits = SignupLimits(per_client="1 per minute", overall="3 per hour")
    with (
        serving(project, smtp_sink, limits=limits, trusted_proxies=1) as served,
        served.client() as browser,
    ):

        def post(client_address: str, email: str) -> int:
            token = csrf(browser.get("/news/subscribe").text)
            return browser.post(
                "/news/subscribe",
                data={"csrf_token": token, "email": email, "topics": "ssl"},
                headers={"X-Forwarded-For": client_address},
            ).status_code

        assert post("198.51.100.1", "a@example.org") == 200
        assert post("198.51.100.1", "b@example.org") == 429
        assert post("198.51.100.2", "c@example.org") == 200
        assert post("198.51.100.3", "d@example.org") == 200
        assert post("198.51.100.4", "e@example.org") == 429  # the overall limit
        signup = served.app.store.signup("a@example.org")
        assert signup is not None and signup.requested_from == "198.51.100.1"


def test_forged_and_expired_confirmation_links_get_a_clear_400_page(
    project: Project, smtp_sink: Sink
) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        sign_up(browser, "fay@example.org", "ssl")
        served.sender.send_due()
        [mail] = served.mail_to("fay@example.org")
        token = link(mail, "confirm").split("token=", 1)[1]
        forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        r = browser.get("/news/confirm", params={"token": forged})
        assert r.status_code == 400 and "This link does not work" in r.text
        manage = make_token("fay@example.org", SECRET, now=NOW, purpose="manage")
        r = browser.get("/news/confirm", params={"token": manage})  # wrong purpose
        assert r.status_code == 400
        page = browser.get("/news/confirm", params={"token": token})
        served.clock.advance(timedelta(hours=49))
        r = browser.post("/news/confirm", data={"csrf_token": csrf(page.text), "token": token})
        assert r.status_code == 400 and "expired" in r.text
        assert browser.get("/news/confirm", params={"token": token}).status_code == 400
        assert served.status("fay@example.org") is not SubscriberStatus.ACTIVE


def test_an_unconfirmed_sign_up_gets_no_digest(project: Project, smtp_sink: Sink) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        sign_up(browser, "gus@example.org", "ssl", "speech", "trending")
        served.sender.send_due()
        served.send(NOW)
        assert len(served.mail_to("gus@example.org")) == 1  # the confirmation only
        assert served.mail_to("alice@example.org")  # the others got their digests


def test_the_admins_subscribers_can_pause_resume_and_unsubscribe_but_not_change_topics(
    project: Project, smtp_sink: Sink
) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        token = make_token("alice@example.org", SECRET, now=NOW, purpose="manage")
        page = browser.get("/news/manage", params={"token": token})
        assert page.status_code == 200
        assert "managed by the newsletter's administrator" in page.text
        assert 'name="topics"' not in page.text

        def act(action: str, **fields: str) -> httpx.Response:
            current = browser.get("/news/manage", params={"token": token})
            data = {"csrf_token": csrf(current.text), "token": token, "action": action}
            return browser.post("/news/manage", data={**data, **fields})

        assert act("pause", weeks="13").status_code == 400
        paused = act("pause", weeks="2")
        assert paused.status_code == 200 and "Paused for 2 weeks" in paused.text
        assert served.status("alice@example.org") is SubscriberStatus.PAUSED
        assert act("resume").status_code == 200
        assert served.status("alice@example.org") is SubscriberStatus.ACTIVE
        assert act("change", topics="speech").status_code == 400
        gone = act("unsubscribe")
        assert gone.status_code == 200 and "You are unsubscribed" in gone.text
        assert served.app.store.is_suppressed("alice@example.org")

        bad = browser.get("/news/manage", params={"token": token[:-2] + "xx"})
        assert bad.status_code == 400 and "This link does not work" in bad.text
        nobody = make_token("nobody-here@example.org", SECRET, now=NOW, purpose="manage")
        r = browser.get("/news/manage", params={"token": nobody})
        assert r.status_code == 404 and "no subscription" in r.text


def test_with_sign_up_off_there_is_no_form_but_manage_and_one_click_work(
    project: Project, smtp_sink: Sink
) -> None:
    with serving(project, smtp_sink, extra="") as served, served.client() as browser:
        assert browser.get("/news/subscribe").status_code == 404
        assert browser.post("/news/subscribe", data={"email": "x@example.org"}).status_code == 404
        assert browser.post("/news/confirm", data={"token": "x"}).status_code == 404
        day = browser.get("/news/")
        assert day.status_code == 200 and "/news/subscribe" not in day.text
        assert "public" in day.headers["Cache-Control"]
        token = make_token("bob@example.org", SECRET, now=NOW, purpose="confirm")
        assert browser.get("/news/confirm", params={"token": token}).status_code == 404
        manage = make_token("bob@example.org", SECRET, now=NOW, purpose="manage")
        assert browser.get("/news/manage", params={"token": manage}).status_code == 200
        unsubscribe = make_token("bob@example.org", SECRET, now=NOW)
        one_click = httpx.post(
            f"{served.url}/unsubscribe",
            params={"token": unsubscribe},
            data={"List-Unsubscribe": "One-Click"},
        )
        assert one_click.status_code == 200 and "set-cookie" not in one_click.headers
        assert served.app.store.is_suppressed("bob@example.org")


def test_sign_ups_close_when_the_newsletter_is_full(project: Project, smtp_sink: Sink) -> None:
    extra = SUBSCRIBE_ON + "  max_subscribers: 1\n"
    with serving(project, smtp_sink, extra=extra) as served, served.client() as browser:
        assert sign_up(browser, "early@example.org", "ssl").status_code == 200
        r = sign_up(browser, "late@example.org", "ssl")
        assert r.status_code == 503 and "Sign-ups are closed for now" in r.text
        assert served.status("late@example.org") is None


@pytest.mark.parametrize("path", ["/news/subscribe", "/news/confirm", "/news/manage"])
def test_pages_run_no_inline_script(project: Project, smtp_sink: Sink, path: str) -> None:
    with serving(project, smtp_sink) as served, served.client() as browser:
        r = browser.get(path)
        assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
        assert "<script>" not in r.text
        script = browser.get("/news/assets/timezone.js")
        assert script.status_code == 200 and "resolvedOptions" in script.text


def test_the_session_cookie_is_secure_for_the_public_https_host_only(project: Project) -> None:
    """``base_url`` is https://digest.example.org/news: a request for that host (through the
    reverse proxy) gets a Secure cookie; ``serve`` tried at http://127.0.0.1 still works."""
    project.config.write_text(project.config.read_text() + SUBSCRIBE_ON, encoding="utf-8")
    env = project.env_file(NEWSLETTER_SECRET=SECRET)
    with (
        open_app(env, project.config, Clock(NOW)) as app,
        running(web_app(app)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        public = client.get("/news/subscribe", headers={"Host": "digest.example.org"})
        local = client.get("/news/subscribe")
    assert public.status_code == local.status_code == 200
    assert "secure" in public.headers["set-cookie"].lower()
    assert "secure" not in local.headers["set-cookie"].lower()
    for response in (public, local):
        assert "httponly" in response.headers["set-cookie"].lower()
        assert "samesite=lax" in response.headers["set-cookie"].lower()
