"""One subscriber, one request, one feed never stops the others (issue 12)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest

from newsletter.app import open_app
from newsletter.cli import main
from newsletter.records import OutboxStatus
from newsletter.run.links import Links
from newsletter.run.messages import MessageMaker
from newsletter.web import running, web_app
from tests.conftest import NOW, Project, Sink
from tests.test_send import SECRET, smtp_env, store_for


def test_a_digest_that_cannot_be_made_fails_its_row_and_the_others_are_sent(
    project: Project, smtp_sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: rendering bob's digest raises (as a renderer bug or a template that
    one subscriber's data trips would); alice's digest still goes out and the run says so."""
    original = MessageMaker.make

    def make(self: MessageMaker, digest: Any) -> Any:
        if digest.subscriber.email == "bob@example.org":
            raise ValueError("something in bob's papers the renderer cannot take")
        return original(self, digest)

    monkeypatch.setattr(MessageMaker, "make", make)
    smtp_env(project, smtp_sink)
    code = main(["send", "--config", str(project.config)], clock=lambda: NOW)
    assert code == 1  # something failed: the exit status says so
    assert smtp_sink.recipients() == ["alice@example.org"]
    store = store_for(project)
    rows = {r.subscriber: r for r in store.outbox_rows()}
    store.close()
    assert rows["alice@example.org"].status is OutboxStatus.SENT
    assert rows["bob@example.org"].status is OutboxStatus.FAILED
    assert "renderer cannot take" in (rows["bob@example.org"].last_reply or "")
    # A failure of ours is not the address's fault: the next send composes bob again.
    monkeypatch.setattr(MessageMaker, "make", original)
    later = NOW + timedelta(minutes=1)
    assert main(["send", "--no-fetch", "--config", str(project.config)], clock=lambda: later) == 0
    assert sorted(smtp_sink.recipients()) == ["alice@example.org", "bob@example.org"]


def test_many_one_click_unsubscribes_at_once_all_answer_200(project: Project) -> None:
    """240 concurrent RFC 8058 POSTs for one address against the real server and store:
    suppression is insert-or-ignore, so no request fails on the unique address."""
    project.env_file(NEWSLETTER_SECRET=SECRET)
    with (
        open_app(project.root / ".env", project.config, lambda: NOW) as app,
        running(web_app(app)) as url,
    ):
        link = Links(url + "/news", SECRET, NOW).unsubscribe("alice@example.org")
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        gate = threading.Barrier(8)

        def hammer() -> None:
            gate.wait()
            with httpx.Client() as client:
                for _ in range(30):
                    r = client.post(link, data={"List-Unsubscribe": "One-Click"})
                    with lock:
                        statuses[r.status_code] += 1

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == {200: 240}
        assert app.store.is_suppressed("alice@example.org")
        assert list(app.store.suppressions()) == ["alice@example.org"]
