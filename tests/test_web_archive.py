"""Every digest on the web: after a real `send` (aiosmtpd), each one reads at /d/<token>
without the subscriber's address or links; cut digests list every match; copies expire."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select

from newsletter.app import open_app
from newsletter.cli import main
from newsletter.records import OutboxStatus
from newsletter.schedule.jobs import clean_archive
from newsletter.store import Store
from newsletter.store.schema import archive, outbox
from newsletter.web import running, web_app
from tests.conftest import MAIN_YAML, NOW, SUBSCRIBERS_YAML, Project, Sink

SECRET = "s3cret-for-tests-0123456789"


def smtp_env(project: Project, sink: Sink) -> None:
    project.env_file(
        SMTP_HOST=sink.host,
        SMTP_PORT=str(sink.port),
        SMTP_SECURITY="none",
        NEWSLETTER_SECRET=SECRET,
    )


def send(project: Project, *args: str, at: datetime = NOW) -> int:
    return main(["send", *args, "--config", str(project.config)], clock=lambda: at)


def tokens(project: Project) -> dict[str, str]:
    """Each recipient's archive token, as the database holds it."""
    with open_app(project.root / ".env", project.config, lambda: NOW) as app:
        store = app.store
        assert isinstance(store, Store)
        query = select(outbox.c.subscriber, archive.c.token).join(
            archive, archive.c.outbox_id == outbox.c.id
        )
        with store.engine.connect() as conn:
            return {email: token for email, token in conn.execute(query)}


@contextmanager
def site(project: Project, at: datetime = NOW) -> Iterator[httpx.Client]:
    """``serve`` as the operator runs it: the app from this project's config and .env."""
    with (
        open_app(project.root / ".env", project.config, lambda: at) as app,
        running(web_app(app)) as url,
        httpx.Client(base_url=url + "/news") as client,
    ):
        yield client


def mails(sink: Sink) -> dict[str, EmailMessage]:
    """Each received message by its envelope recipient."""
    return {e.rcpt_tos[0]: m for e, m in zip(sink.envelopes, sink.messages(), strict=True)}


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


BASE = "https://digest.example.org/news"


def view_link(message: EmailMessage) -> str:
    """The "View in browser" link, checked to be the same in the header, HTML and text."""
    archived_at = str(message["Archived-At"])
    assert archived_at.startswith(f"<{BASE}/d/") and archived_at.endswith(">")
    link = archived_at[1:-1]
    html = html_of(message)
    top = html[: html.index('class="container"')]  # at the top, above the digest itself
    assert re.search(
        rf'<a class="view-link" href="{re.escape(link)}"[^>]*>View in browser</a>', top
    )
    assert f"View in browser: {link}" in text_of(message).split("\n\n")[0]
    return link


def local(link: str) -> str:
    """A link from the mail, as a path on the test server (which answers under /news)."""
    assert link.startswith(BASE + "/")
    return link[len(BASE) :]


def paper_titles(html: str) -> list[str]:
    found = re.findall(r'<h3 class="paper-title"[^>]*>\s*<a[^>]*>(.*?)</a>', html, re.S)
    return [re.sub(r"<[^>]+>", "", title).strip() for title in found]


def test_each_sent_digest_reads_on_the_web_without_what_is_personal(
    project: Project, smtp_sink: Sink
) -> None:
    smtp_env(project, smtp_sink)
    assert send(project) == 0
    received = mails(smtp_sink)
    archived = tokens(project)
    assert set(archived) == {"alice@example.org", "bob@example.org"}
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{27}", token) for token in archived.values())
    assert len(set(archived.values())) == 2
    with site(project) as client:
        for email, token in archived.items():
            mail_html = html_of(received[email])
            assert email in mail_html and "/unsubscribe?token=" in mail_html
            r = client.get(f"/d/{token}")
            assert r.status_code == 200
            titles = paper_titles(mail_html)
            assert titles and paper_titles(r.text) == titles
            assert email not in r.text.lower()
            assert "unsubscribe" not in r.text.lower() and "token=" not in r.text
            assert '<meta name="robots" content="noindex, nofollow">' in r.text
            assert r.headers["x-robots-tag"] == "noindex, nofollow"
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["referrer-policy"] == "no-referrer"
            policy = r.headers["content-security-policy"]
            assert "default-src 'none'" in policy and "script" not in policy
            assert "<script" not in r.text.lower()


def test_the_view_in_browser_link_of_every_mail_leads_to_its_copy(
    project: Project, smtp_sink: Sink
) -> None:
    smtp_env(project, smtp_sink)
    assert send(project) == 0
    received = mails(smtp_sink)
    archived = tokens(project)
    with site(project) as client:
        for email, message in received.items():
            link = view_link(message)
            assert link == f"{BASE}/d/{archived[email]}"
            r = client.get(local(link))
            assert r.status_code == 200
            assert paper_titles(r.text) == paper_titles(html_of(message))
            assert "View in browser" not in r.text  # the link to itself is dropped
        # alice's digest was cut (36 matches, 25 shown): its "more" link is in the mail,
        # stays on the web copy, and lists every match
        alice = html_of(received["alice@example.org"])
        all_link = f"{BASE}/d/{archived['alice@example.org']}/all"
        assert f'href="{all_link}"' in alice
        copy = client.get(local(view_link(received["alice@example.org"]))).text
        assert f'href="{all_link}"' in copy
        every = client.get(local(all_link))
        assert every.status_code == 200 and "36 papers matched; 25 were in the mail." in every.text
        assert (
            f'href="{BASE}/d/'
            not in html_of(received["bob@example.org"]).split('class="container"')[1]
        )  # bob's was not cut: no "more" link


def test_a_cut_digest_lists_every_match_and_why(project: Project, smtp_sink: Sink) -> None:
    project.write(MAIN_YAML.replace("max_items: 25", "max_items: 5"), SUBSCRIBERS_YAML)
    smtp_env(project, smtp_sink)
    assert send(project) == 0
    archived = tokens(project)
    with site(project) as client:
        page = client.get(f"/d/{archived['alice@example.org']}/all")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-robots-tag"] == "noindex, nofollow"
        assert '<meta name="robots" content="noindex">' in page.text
        items = page.text.split('<li class="paper">')[1:]
        assert len(items) == 36  # every match of alice's topic, 5 of them in the mail
        assert sum("not in the mail" in item for item in items) == 36 - 5
        assert all("Matched Self-supervised learning" in item for item in items)
        assert "36 papers matched; 5 were in the mail." in page.text
        in_mail = paper_titles(html_of(mails(smtp_sink)["alice@example.org"]))
        listed = [re.sub(r"<[^>]+>", "", i.split("<h2>")[1].split("</h2>")[0]) for i in items]
        assert listed[:5] == in_mail
        assert "alice@example.org" not in page.text
        back = f'<a href="/news/d/{archived["alice@example.org"]}">Back to the digest</a>'
        assert back in page.text
        # bob's digest (4 papers) was not cut: there is no longer list
        whole = client.get(f"/d/{archived['bob@example.org']}/all")
        assert whole.status_code == 404 and "Nothing was left out" in whole.text


@pytest.mark.parametrize(
    "token",
    [
        "A" * 27,  # the right shape, never issued
        "short",
        "x" * 65,
        "../../etc/passwd",
        "%00" * 9,
        "<script>alert(1)</script>",
    ],
)
def test_a_forged_token_is_a_clear_404(project: Project, token: str) -> None:
    project.env_file(NEWSLETTER_SECRET=SECRET)
    with site(project) as client:
        for path in (f"/d/{token}", f"/d/{token}/all"):
            r = client.get(path)
            assert r.status_code == 404, path
            assert "<h1>No digest here</h1>" in r.text or "<h1>Not Found</h1>" in r.text
            assert "<script>alert" not in r.text
            assert r.headers["cache-control"] == "no-store"


def test_copies_expire_after_archive_days_and_the_history_stays(
    project: Project, smtp_sink: Sink
) -> None:
    project.write(MAIN_YAML + "archive_days: 10\n", SUBSCRIBERS_YAML)
    smtp_env(project, smtp_sink)
    assert send(project) == 0
    token = tokens(project)["alice@example.org"]
    with site(project, at=NOW + timedelta(days=9)) as client:
        assert client.get(f"/d/{token}").status_code == 200
    later = NOW + timedelta(days=10, minutes=1)
    with site(project, at=later) as client:  # past its time, even before any cleanup
        r = client.get(f"/d/{token}")
        assert r.status_code == 410
        assert "<h1>This digest has expired</h1>" in r.text and "10 days" in r.text
        assert client.get(f"/d/{token}/all").status_code == 410

    # send runs the cleanup at its end: the copy goes, the delivery history stays
    assert send(project, "--no-fetch", at=later) == 0
    with open_app(project.root / ".env", project.config, lambda: later) as app:
        gone = app.store.archived(token)
        assert gone is not None and gone.expired and gone.data == b""
        rows = [r for r in app.store.outbox_rows("alice@example.org")]
        assert rows and all(r.status is OutboxStatus.SENT for r in rows)
        assert app.store.taken_entries_of(["alice@example.org"])["alice@example.org"].keys
    with site(project, at=later) as client:
        assert client.get(f"/d/{token}").status_code == 410


def test_the_daemons_daily_cleanup_expires_old_copies(project: Project, smtp_sink: Sink) -> None:
    project.write(MAIN_YAML + "archive_days: 1\n", SUBSCRIBERS_YAML)
    smtp_env(project, smtp_sink)
    assert send(project) == 0
    token = tokens(project)["bob@example.org"]
    with open_app(project.root / ".env", project.config, lambda: NOW + timedelta(hours=23)) as app:
        clean_archive(app, threading.Event())
        copy = app.store.archived(token)
        assert copy is not None and not copy.expired
    with open_app(project.root / ".env", project.config, lambda: NOW + timedelta(days=2)) as app:
        stop = threading.Event()
        stop.set()
        clean_archive(app, stop)  # a stopping daemon starts no cleanup
        assert not app.store.archived(token).expired  # type: ignore[union-attr]
        clean_archive(app, threading.Event())
        assert app.store.archived(token).expired  # type: ignore[union-attr]


def test_a_dry_run_archives_nothing_and_links_nowhere(project: Project) -> None:
    out = project.root / "previews"
    assert send(project, "--dry-run", "--out", str(out)) == 0
    assert tokens(project) == {}
    for html in out.glob("*.html"):
        assert "/d/" not in html.read_text()
