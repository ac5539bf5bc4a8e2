"""The whole path end to end: feed → store → match → compose → render → SMTP (or dry-run files)."""

from __future__ import annotations

import os
import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from newsletter.cli import main
from newsletter.config import load_config
from newsletter.demo import sample_feed
from newsletter.store import Store
from tests.conftest import NOW, HttpFiles, Project, Sink

SECRET = "s3cret-for-tests-0123456789"


def smtp_env(project: Project, sink: Sink) -> None:
    project.env_file(
        SMTP_HOST=sink.host,
        SMTP_PORT=str(sink.port),
        SMTP_SECURITY="none",
        NEWSLETTER_SECRET=SECRET,
    )


def run(project: Project, *args: str) -> int:
    return main([*args, "--config", str(project.config)], clock=lambda: NOW)


def store_for(project: Project) -> Store:
    return Store.open(load_config(project.config).database_url)


def test_dry_run_writes_eml_and_previews_and_records_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    out = project.root / "previews"
    assert run(project, "send", "--dry-run", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "alice@example.org" in printed and "bob@example.org" in printed
    assert "nobody@example.org" not in printed
    assert str(out) in printed
    emls = sorted(out.glob("*.eml"))
    assert [p.name for p in emls] == ["1-alice@example.org.eml", "2-bob@example.org.eml"]
    for eml in emls:
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        assert message.get_content_type() == "multipart/alternative"
        assert eml.with_suffix(".html").read_text().lstrip().lower().startswith("<!doctype html")
        assert eml.with_suffix(".txt").read_text().strip()
    first = {p.name: p.read_bytes() for p in out.iterdir()}

    store = store_for(project)
    assert store.outbox_counts() == {}
    assert store.taken_entries_of(["alice@example.org"])["alice@example.org"].keys == set()
    assert store.entry_count() == 80  # fetching stores entries; that marks nothing as seen
    store.close()

    assert run(project, "send", "--dry-run", "--out", str(out)) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_send_delivers_one_multipart_digest_per_subscriber_then_nothing(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_env(project, smtp_sink)
    assert run(project, "send") == 0
    assert sorted(smtp_sink.recipients()) == ["alice@example.org", "bob@example.org"]
    for message in smtp_sink.messages():
        assert message.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
            assert message[header], header
        assert message["From"] == "Test Digest <digest@example.org>"
        assert "https://digest.example.org/news/unsubscribe?token=" in message["List-Unsubscribe"]
        text = message.get_body(("plain",))
        assert text is not None
        assert re.search(r"\b\d+ new papers?\b", message["Subject"]), message["Subject"]
    alice = next(
        m for m in smtp_sink.messages() if m["To"].addresses[0].addr_spec == "alice@example.org"
    )
    body = alice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Self-supervised" in body
    capsys.readouterr()

    assert run(project, "send") == 0
    assert len(smtp_sink.envelopes) == 2
    assert "Composed 0 digests" in capsys.readouterr().out

    store = store_for(project)
    assert store.outbox_counts() == {"sent": 2}
    store.close()


def test_new_entries_later_are_the_only_ones_mailed(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_env(project, smtp_sink)
    assert run(project, "send", "--subscriber", "alice@example.org") == 0
    assert smtp_sink.recipients() == ["alice@example.org"]
    first = smtp_sink.messages()[0]
    feed = project.root / "config" / "sample-feed.atom"
    extra = """  <entry>
    <title>A brand-new self-supervised method</title>
    <id>urn:test:new-paper</id>
    <link rel="alternate" href="https://example.org/new-paper"/>
    <published>2026-11-26T05:00:00Z</published>
    <summary>We study self-supervised pretraining.</summary>
  </entry>
</feed>"""
    feed.write_text(feed.read_text().replace("</feed>", extra))
    stamp = feed.stat().st_mtime + 2  # a local feed's mtime is its Last-Modified (1 s resolution)
    os.utime(feed, (stamp, stamp))
    later = NOW.replace(hour=7)
    assert (
        main(
            ["send", "--config", str(project.config), "--subscriber", "alice@example.org"],
            clock=lambda: later,
        )
        == 0
    )
    assert len(smtp_sink.envelopes) == 2
    second = smtp_sink.messages()[1]
    text = second.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "A brand-new self-supervised method" in text
    assert "1 new paper" in second["Subject"]
    assert first["Message-ID"] != second["Message-ID"]


def test_feed_over_http_from_a_local_server(
    project: Project, http_files: HttpFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    http_files.files["/papers.atom"] = (sample_feed(NOW).encode(), "application/atom+xml")
    main_yaml = project.config.read_text().replace(
        "url: sample-feed.atom", f"url: {http_files.base}/papers.atom"
    )
    project.write(main=main_yaml, subscribers=project.subscribers.read_text())
    assert run(project, "fetch") == 0
    assert http_files.requests == ["/papers.atom"]
    assert "80 entries" in capsys.readouterr().out
    store = store_for(project)
    assert store.entry_count() == 80
    store.close()


def test_broken_feed_is_reported_and_others_still_work(
    project: Project, http_files: HttpFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    main_yaml = project.config.read_text().replace(
        "    url: sample-feed.atom\n",
        f"    url: sample-feed.atom\n  - name: gone\n    url: {http_files.base}/missing.xml\n",
    )
    project.write(main=main_yaml, subscribers=project.subscribers.read_text())
    assert run(project, "fetch") == 0  # one failure is reported, not yet flagged
    out = capsys.readouterr().out
    assert "gone" in out and "ERROR" in out and "404" in out
    assert "80 entries" in out
    assert run(project, "fetch", "--force") == 0
    capsys.readouterr()
    assert run(project, "fetch", "--force") == 1  # the third failure in a row flags it
    out = capsys.readouterr().out
    gone = next(line for line in out.splitlines() if line.startswith("gone"))
    assert "failing since 2026-11-26 06:00 UTC (3 failed fetches in a row)" in gone
    sample = next(line for line in out.splitlines() if line.startswith("sample"))
    assert "not modified" in sample


def test_subscriber_without_matches_gets_no_mail(
    project: Project, smtp_sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_env(project, smtp_sink)
    assert run(project, "send", "--subscriber", "nobody@example.org") == 0
    assert smtp_sink.envelopes == []
    assert "Composed 0 digests" in capsys.readouterr().out


def test_demo_feed_command_writes_a_fresh_feed(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    target = project.root / "fresh.atom"
    assert run(project, "demo-feed", "--out", str(target)) == 0
    assert "<entry>" in target.read_text() and NOW.strftime("%Y-%m-%d") in target.read_text()


def test_entries_are_stored_before_the_feeds_caching_headers(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crash between storing a feed's Last-Modified and its entries would hide the
    entries behind 'not modified' forever; the entries must be stored first."""
    from newsletter.store import Store as StoreClass

    def crash(self: object, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # stands in for the process dying here

    monkeypatch.setattr(StoreClass, "save_feed", crash)
    assert run(project, "fetch") == 130
    monkeypatch.undo()
    store = store_for(project)
    assert store.entry_count() == 80
    store.close()
