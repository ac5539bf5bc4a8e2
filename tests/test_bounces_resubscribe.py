"""The resubscribe page lifts a person's own unsubscribe, and nothing a bounce or a
complaint put there (a real store, over real HTTP)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from newsletter.records import SuppressionReason
from newsletter.tokens import make_token
from newsletter.web import create_app, running
from tests.conftest import NOW, Project
from tests.test_deliver_refusals import open_store

SECRET = "web-test-secret-0123456789"


@pytest.mark.parametrize(
    ("reason", "lifted"),
    [
        (SuppressionReason.UNSUBSCRIBE, True),
        (SuppressionReason.BOUNCE_HARD, False),
        (SuppressionReason.BOUNCE_SOFT, False),
        (SuppressionReason.COMPLAINT, False),
    ],
)
def test_resubscribe_lifts_only_the_persons_own_unsubscribe(
    project: Project, reason: SuppressionReason, lifted: bool
) -> None:
    store = open_store(project)
    try:
        store.suppress("alice@example.org", reason, NOW)
        app = create_app(
            secret=SECRET,
            suppressions=store,
            base_path="/news",
            now=lambda: NOW,
            max_age=timedelta(days=365),
        )
        token = make_token("alice@example.org", SECRET, now=NOW)
        with running(app) as url, httpx.Client(base_url=url) as client:
            reply = client.post("/news/resubscribe", data={"token": token})
        assert reply.status_code == (200 if lifted else 409)
        assert store.is_suppressed("alice@example.org") is not lifted
        if not lifted:
            assert "bounced or was reported as spam" in reply.text
            found = store.suppression("alice@example.org")
            assert found is not None and found.reason is reason
    finally:
        store.close()
