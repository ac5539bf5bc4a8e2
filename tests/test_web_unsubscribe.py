"""The unsubscribe app over real HTTP, served by waitress on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from newsletter.records import SuppressionReason
from newsletter.run.links import Links
from newsletter.store import Suppression
from newsletter.tokens import make_token
from newsletter.web import create_app, running

SECRET = "web-test-secret"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


class MemorySuppressions:
    """Stands in for the store's suppression table (that table is tested with the store)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, datetime]] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.broken = False

    def suppress(self, email: str, reason: SuppressionReason, at: datetime) -> bool:
        if self.broken:
            raise RuntimeError("database is locked")
        with self.lock:
            self.calls.append(f"suppress {email}")
            self.rows[email] = (reason, at)
            return True

    def unsuppress(
        self, email: str, reasons: Collection[SuppressionReason] | None = None
    ) -> Suppression | None:
        with self.lock:
            self.calls.append(f"unsuppress {email}")
            found = self.rows.get(email)
            if found is None or (reasons is not None and found[0] not in reasons):
                return None
            del self.rows[email]
            return Suppression(email, SuppressionReason(found[0]), found[1])

    def is_suppressed(self, email: str) -> bool:
        with self.lock:
            return email in self.rows


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store() -> MemorySuppressions:
    return MemorySuppressions()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: MemorySuppressions, clock: Clock) -> Iterator[httpx.Client]:
    app = create_app(
        secret=SECRET,
        suppressions=store,
        base_path="/news/",
        title="Paper <Digest>",
        now=clock,
        max_age=timedelta(days=365),
    )
    with running(app) as url, httpx.Client(base_url=url, follow_redirects=False) as c:
        yield c


def token(email: str = "alice@example.com", secret: str = SECRET) -> str:
    return make_token(email, secret, now=NOW)


def test_get_shows_a_confirmation_and_changes_nothing(
    client: httpx.Client, store: MemorySuppressions
) -> None:
    r = client.get("/news/unsubscribe", params={"token": token()})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "alice@example.com" in r.text
    assert '<form method="post"' in r.text and "<button" in r.text
    assert "Paper &lt;Digest&gt;" in r.text  # escaped
    assert store.rows == {}
    assert client.head("/news/unsubscribe", params={"token": token()}).status_code == 200
    assert store.rows == {}


def test_one_click_post_unsubscribes_with_200_and_is_idempotent(
    client: httpx.Client, store: MemorySuppressions, clock: Clock
) -> None:
    url = f"/news/unsubscribe?token={token()}"
    r = client.post(url, data=ONE_CLICK)
    assert r.status_code == 200
    assert "location" not in r.headers
    assert "set-cookie" not in r.headers
    assert "will get no more" in r.text
    assert store.rows["alice@example.com"] == ("unsubscribe", NOW)
    clock.now = NOW + timedelta(days=1)
    again = client.post(url, data=ONE_CLICK)
    assert again.status_code == 200
    assert store.rows["alice@example.com"] == ("unsubscribe", NOW)  # original date kept
    assert store.calls == ["suppress alice@example.com"]


def test_multipart_one_click_and_the_pages_own_button_also_work(
    client: httpx.Client, store: MemorySuppressions
) -> None:
    r = client.post(
        f"/news/unsubscribe?token={token('bob@example.com')}",
        files={"List-Unsubscribe": (None, "One-Click")},
    )
    assert r.status_code == 200
    page = client.get("/news/unsubscribe", params={"token": token("carol@example.com")})
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert client.post(action).status_code == 200
    assert set(store.rows) == {"bob@example.com", "carol@example.com"}


def test_resubscribe_from_the_confirmation_page(
    client: httpx.Client, store: MemorySuppressions
) -> None:
    done = client.post(f"/news/unsubscribe?token={token()}", data=ONE_CLICK)
    assert "Resubscribe" in done.text
    assert client.get("/news/unsubscribe", params={"token": token()}).text.count(
        "already unsubscribed"
    )
    r = client.post("/news/resubscribe", data={"token": token()})
    assert r.status_code == 200
    assert "digests again" in r.text
    assert store.rows == {}


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: token(secret="guessed"), "not issued by this newsletter"),
        (lambda: token()[:-2] + ("AA" if not token().endswith("AA") else "BB"), "not valid"),
        (lambda: "", "carries no token"),
        (lambda: "garbage", "incomplete or damaged"),
        (lambda: "<script>alert(1)</script>.x", "damaged"),
    ],
)
def test_bad_tokens_get_a_clear_400_page_and_change_nothing(
    client: httpx.Client, store: MemorySuppressions, make: object, needle: str
) -> None:
    bad = make()  # type: ignore[operator]
    for method in ("GET", "POST"):
        r = client.request(method, "/news/unsubscribe", params={"token": bad}, data=ONE_CLICK)
        assert r.status_code == 400
        assert needle in r.text
        assert "Traceback" not in r.text and "<script>" not in r.text
    assert client.post("/news/resubscribe", data={"token": bad}).status_code == 400
    assert store.rows == {}


def test_a_token_for_another_address_only_touches_that_address(
    client: httpx.Client, store: MemorySuppressions
) -> None:
    # Mallory's genuine token, with alice's address pasted into the URL as well: ignored.
    url = f"/news/unsubscribe?token={token('mallory@example.com')}&email=alice@example.com"
    assert client.post(url, data=ONE_CLICK).status_code == 200
    assert set(store.rows) == {"mallory@example.com"}


def test_expired_token(client: httpx.Client, clock: Clock, store: MemorySuppressions) -> None:
    clock.now = NOW + timedelta(days=400)
    r = client.post(f"/news/unsubscribe?token={token()}", data=ONE_CLICK)
    assert r.status_code == 400 and "expired" in r.text
    assert store.rows == {}


def test_addresses_are_escaped(client: httpx.Client) -> None:
    evil = '"<img src=x onerror=alert(1)>"@example.com'
    r = client.get("/news/unsubscribe", params={"token": token(evil)})
    assert r.status_code == 200
    assert "<img" not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text


def test_routes_live_under_the_base_path_only(client: httpx.Client) -> None:
    r = client.post(f"/unsubscribe?token={token()}", data=ONE_CLICK)
    assert r.status_code == 404
    assert "<h1>Not Found</h1>" in r.text
    assert client.get("/news/healthz").text == "ok\n"


def test_wrong_method_and_server_errors_are_pages_not_tracebacks(
    client: httpx.Client, store: MemorySuppressions
) -> None:
    r = client.put(f"/news/unsubscribe?token={token()}")
    assert r.status_code == 405
    assert "GET" in r.headers["allow"] and "POST" in r.headers["allow"]
    store.broken = True
    r = client.post(f"/news/unsubscribe?token={token()}", data=ONE_CLICK)
    assert r.status_code == 500
    assert "problem on our side" in r.text
    assert "database is locked" not in r.text and "Traceback" not in r.text


def test_safety_headers(client: httpx.Client) -> None:
    r = client.get("/news/unsubscribe", params={"token": token()})
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["server"] == "newsletter"


def test_app_refuses_empty_secret_and_odd_base_path(store: MemorySuppressions) -> None:
    with pytest.raises(ValueError, match="NEWSLETTER_SECRET"):
        create_app(secret="", suppressions=store, now=Clock())
    with pytest.raises(ValueError, match="plain URL path"):
        create_app(secret="x", suppressions=store, base_path="/a b?", now=Clock())


def test_the_link_put_in_the_mail_works_for_one_click(store: MemorySuppressions) -> None:
    app = create_app(secret=SECRET, suppressions=store, base_path="/news", now=Clock())
    with running(app) as url:
        link = Links(url + "/news", SECRET, NOW).unsubscribe("dave@example.com")
        # What Gmail/Yahoo do with List-Unsubscribe-Post: a plain POST, no cookies.
        r = httpx.post(link, data=ONE_CLICK, follow_redirects=False)
    assert r.status_code == 200
    assert store.is_suppressed("dave@example.com")
