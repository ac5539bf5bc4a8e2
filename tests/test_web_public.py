"""The day's papers and search over real HTTP (waitress), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import httpx
import pytest

from newsletter.checks import check_query
from newsletter.store import Store
from tests.web_support import (
    NOW,
    Clock,
    add,
    client_fixture,
    clock_fixture,
    paper,
    serving,
    store_fixture,
    update,
)

DAY = timedelta(days=1)

store = pytest.fixture(store_fixture, name="store")
clock = pytest.fixture(clock_fixture, name="clock")
client = pytest.fixture(client_fixture, name="client")


def titles(html: str) -> list[str]:
    return re.findall(r'<h2 id="p-[0-9a-f]+-t"><a href="[^"]*">(.*?)</a></h2>', html)


def raw_get(base: str, path: str) -> tuple[int, str]:
    """A GET with the path sent as it is (no client-side normalising; non-ASCII as UTF-8
    percent-escapes, the only way it can travel)."""
    path = quote(path, safe="/%?=&:;,+*()!$'@~")
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


# -- the day's papers --------------------------------------------------------------------------


def test_today_ranks_by_upvotes_then_date_with_every_link(
    client: httpx.Client, store: Store
) -> None:
    add(
        store,
        [
            paper(1, popularity=5, published=NOW - timedelta(hours=3)),
            paper(2, popularity=40, published=NOW - timedelta(hours=5)),
            paper(3, popularity=5, published=NOW - timedelta(hours=1)),
            paper(4, published=NOW - timedelta(hours=2)),  # no upvotes known: last
            paper(
                5,
                popularity=12,
                abstract="We release code at https://github.com/example/fastattn. Results.",
                categories=("cs.CL", "cs.AI"),
                authors=("Ada Lovelace", "Alan Turing"),
            ),
            paper(6, popularity=99, published=NOW - 2 * DAY),  # another day
        ],
    )
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert titles(r.text) == [
        "Paper number 2",
        "Paper number 5",
        "Paper number 3",
        "Paper number 1",
        "Paper number 4",
    ]
    assert "<h1>Thursday, 26 November 2026</h1>" in r.text
    assert "5 papers, most upvoted first." in r.text
    cards = r.text.split('<li class="paper"')[1:]
    card = cards[1]  # paper 5
    assert "▲ 12<small>upvotes</small>" in card
    assert '<a href="https://huggingface.co/papers/2611.00005">' in card
    assert '<a href="https://arxiv.org/abs/2611.00005">Abstract</a>' in card
    assert '<a href="https://arxiv.org/pdf/2611.00005">PDF</a>' in card
    assert '<a href="https://github.com/example/fastattn">Code</a>' in card
    assert "Ada Lovelace and Alan Turing" in card
    assert "<li>cs.CL</li><li>cs.AI</li>" in card
    assert "<details>\n<summary>Read the abstract</summary>" in card
    assert "We release code at" in card
    assert "▲" not in cards[4]  # paper 4: no count known, none shown
    assert client.get("/papers/2026-11-26").text == r.text


def test_days_begin_at_midnight_in_the_newsletters_time_zone(
    client: httpx.Client, store: Store
) -> None:
    # 23:30 UTC on the 25th is 00:30 on the 26th in Berlin; 23:30 UTC on the 26th is the 27th.
    add(
        store,
        [
            paper(1, published=datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
            paper(2, published=datetime(2026, 11, 25, 22, 30, tzinfo=UTC)),
            paper(3, published=datetime(2026, 11, 26, 23, 30, tzinfo=UTC)),
        ],
    )
    assert titles(client.get("/papers/2026-11-26").text) == ["Paper number 1"]
    assert titles(client.get("/papers/2026-11-25").text) == ["Paper number 2"]
    assert titles(client.get("/papers/2026-11-27").text) == ["Paper number 3"]


def test_previous_and_next_lead_to_days_that_have_papers(
    client: httpx.Client, store: Store, clock: Clock
) -> None:
    add(
        store,
        [paper(1, published=NOW - 6 * DAY), paper(2, published=NOW - 3 * DAY), paper(3)],
    )
    middle = client.get("/papers/2026-11-23").text
    assert '<a href="/news/papers/2026-11-20" rel="prev">← 20 Nov 2026</a>' in middle
    assert '<a href="/news/papers/2026-11-26" rel="next">26 Nov 2026 →</a>' in middle
    today = client.get("/").text
    assert 'rel="prev"' in today and 'rel="next"' not in today
    empty = client.get("/papers/2026-11-22")
    assert empty.status_code == 200
    assert "No papers on this day." in empty.text
    assert 'href="/news/papers/2026-11-20" rel="prev"' in empty.text
    assert 'href="/news/papers/2026-11-23" rel="next"' in empty.text
    clock.now = NOW + 2 * DAY  # nothing fetched since: today is empty, the latest day is linked
    quiet = client.get("/").text
    assert "No papers yet today." in quiet
    assert 'The latest papers are on <a href="/news/papers/2026-11-26">26 Nov 2026</a>.' in quiet


@pytest.mark.parametrize(
    "path",
    [
        "/news/papers/2026-13-01",
        "/news/papers/2026-02-30",
        "/news/papers/26-11-2026",
        "/news/papers/2026-1-1",
        "/news/papers/20261126",
        "/news/papers/1969-12-31",
        "/news/papers/9999-12-31",
        "/news/papers/２０２６-11-26",
        "/news/papers/%00",
        "/news/papers/2026-11-26%00",
        "/news/papers/..%2F..%2Fetc%2Fpasswd",
        "/news/papers/%2e%2e",
        "/news/papers/%ZZ",
        "/news/papers/" + "9" * 4000,
        "/news/papers/2026-11-26/../../../etc/passwd",
        "/news/papers/2026-11-26/extra",
    ],
)
def test_a_bad_date_is_a_404_page(client: httpx.Client, path: str) -> None:
    status, body = raw_get(str(client.base_url), path)
    assert status == 404
    assert "<h1>Not Found</h1>" in body or "<h1>Not found</h1>" in body
    assert "Traceback" not in body and "passwd" not in body


def test_conditional_get_answers_304_until_the_day_changes(
    client: httpx.Client, store: Store
) -> None:
    first = paper(1, popularity=1)
    add(store, [first, paper(2, published=NOW - 3 * DAY)])
    r = client.get("/")
    tag = r.headers["etag"]
    assert r.headers["cache-control"] == "public, max-age=60"
    again = client.get("/", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    past = client.get("/papers/2026-11-23")
    assert past.headers["cache-control"] == "public, max-age=600"
    assert past.headers["etag"] != tag
    update(store, first, NOW + timedelta(minutes=1), popularity=50)  # new upvotes
    changed = client.get("/", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert "▲ 50" in changed.text
    add(store, [paper(3, published=NOW + 2 * DAY)])  # a next day appears: a link changes
    assert client.get("/", headers={"If-None-Match": changed.headers["etag"]}).status_code == 200


def test_feed_text_is_escaped_and_only_web_links_are_links(
    client: httpx.Client, store: Store
) -> None:
    add(
        store,
        [
            paper(
                1,
                title="<script>alert(1)</script> & friends",
                abstract='"><img src=x onerror=alert(2)> done',
                link="javascript:alert(3)",
                categories=("<b>cs</b>",),
            )
        ],
    )
    r = client.get("/")
    assert "<script>alert" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in r.text
    assert "javascript:" not in r.text
    assert "<li>&lt;b&gt;cs&lt;/b&gt;</li>" in r.text


# -- search ----------------------------------------------------------------------------------


def test_search_marks_the_matched_words(client: httpx.Client, store: Store) -> None:
    add(
        store,
        [
            paper(1, title="Sparse Attention for long documents", abstract="We study attention."),
            paper(2, title="Robots that walk", abstract="Legged locomotion."),
            paper(3, title="Attention is all you need again", published=NOW - 40 * DAY),
        ],
    )
    r = client.get("/search", params={"q": "title:attention"})
    assert r.status_code == 200
    found = re.findall(r'<h2 id="p-[0-9a-f]+-t"><a href="[^"]*">(.*?)</a></h2>', r.text)
    assert found == [
        "Sparse <mark>Attention</mark> for long documents",
        "<mark>Attention</mark> is all you need again",
    ]
    assert "2 papers of the newest 3 match." in r.text
    assert 'value="title:attention"' in r.text  # the box keeps the query
    assert "Robots that walk" not in r.text
    none = client.get("/search", params={"q": "zyzzyva"})
    assert none.status_code == 200 and "0 papers of the newest 3 match." in none.text
    form = client.get("/search")
    assert form.status_code == 200 and "with the topic language" in form.text


def test_a_search_with_too_many_candidates_says_how_much_was_ranked(
    client: httpx.Client, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("newsletter.web.search.RANKED_MAX", 2)
    add(store, [paper(i, published=NOW - timedelta(minutes=i)) for i in range(1, 6)])
    r = client.get("/search", params={"q": "attention"})
    assert r.status_code == 200
    assert "the 2 newest of them were ranked, and 2 match" in r.text
    assert titles(re.sub(r"</?mark>", "", r.text)) == ["Paper number 1", "Paper number 2"]


@pytest.mark.parametrize(
    "query", ["(attention", 'title:"open phrase', "attention AND", "a OR OR b"]
)
def test_a_bad_query_shows_the_caret_check_prints(client: httpx.Client, query: str) -> None:
    r = client.get("/search", params={"q": query})
    assert r.status_code == 400
    expected = check_query(query)
    assert expected is not None
    message, _, caret = expected.partition("\n")
    assert f"<p>{message}</p>".replace("'", "&#39;").replace('"', "&#34;") in r.text
    shown = re.search(r"<pre>(.*?)</pre>", r.text, re.S)
    assert shown is not None
    assert shown.group(1).replace("&#34;", '"') == caret


def test_queries_are_size_capped_and_control_characters_refused(client: httpx.Client) -> None:
    long = client.get("/search", params={"q": "a" * 501})
    assert long.status_code == 400 and "at most 500 characters" in long.text
    assert client.get("/search", params={"q": "a" * 500}).status_code == 200
    for bad in ("atten\x00tion", "\x1b[31m", "a\x7fb"):
        r = client.get("/search", params={"q": bad})
        assert r.status_code == 400 and "control characters" in r.text
    huge_status, _ = raw_get(str(client.base_url), "/news/search?q=" + "x" * 100_000)
    assert huge_status in (400, 414, 431)


@pytest.mark.parametrize(
    "raw",
    ["%FF%FE%FD", "%ZZattention", "%E2%80%AEattention", "<script>alert(1)</script>", "ä" * 100],
)
def test_garbled_queries_are_searched_or_refused_never_crash(
    client: httpx.Client, raw: str
) -> None:
    status, body = raw_get(str(client.base_url), f"/news/search?q={raw}")
    assert status in (200, 400)
    assert "<script>alert" not in body and "Traceback" not in body


def test_search_is_rate_limited_per_client(store: Store, clock: Clock) -> None:
    with serving(store, clock, search_rate="3 per minute") as url, httpx.Client(base_url=url) as c:
        assert [c.get("/search", params={"q": "attention"}).status_code for _ in range(3)] == [
            200
        ] * 3
        limited = c.get("/search", params={"q": "attention"})
        assert limited.status_code == 429
        assert "<h1>Too Many Requests</h1>" in limited.text
        assert "Wait a minute" in limited.text
        assert int(limited.headers["retry-after"]) > 0
        # Another client's address is not counted by X-Forwarded-For: no proxy is trusted.
        spoofed = c.get("/search", params={"q": "x"}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429
        assert c.get("/search").status_code == 200  # the empty form is not a search
        assert c.get("/").status_code == 200  # other pages are not limited


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(store: Store, clock: Clock) -> None:
    with (
        serving(store, clock, search_rate="2 per minute", trusted_proxies=1) as url,
        httpx.Client(base_url=url) as c,
    ):

        def search(forwarded: str) -> int:
            headers = {"X-Forwarded-For": forwarded}
            return c.get("/search", params={"q": "robots"}, headers=headers).status_code

        assert [search("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert [search("198.51.100.2") for _ in range(2)] == [200, 200]
        # A client cannot pick its own bucket: only the entry the proxy added counts.
        assert search("10.9.9.9, 198.51.100.1") == 429
        assert search("198.51.100.1, 198.51.100.3") == 200


# -- headers, the switch ---------------------------------------------------------------------


def test_pages_run_no_script_and_allow_only_their_own_stylesheet(
    client: httpx.Client, store: Store
) -> None:
    add(store, [paper(1)])
    for path in ("/", "/search?q=paper", "/search?q=(", "/papers/1999-99-99"):
        r = client.get(path)
        policy = r.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "unsafe-inline" not in policy
        assert "<script" not in r.text and " style=" not in r.text
        style = re.search(r"<style>(.*?)</style>", r.text, re.S)
        assert style is not None
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert '<meta name="robots" content="noindex">' not in client.get("/").text
    assert '<meta name="robots" content="noindex">' in client.get("/search?q=x").text
    assert client.get("/search?q=x").headers["cache-control"] == "no-store"


def test_with_the_public_site_off_only_the_personal_pages_answer(
    store: Store, clock: Clock
) -> None:
    from newsletter.tokens import make_token

    add(store, [paper(1)])
    with serving(store, clock, public_site=False) as url, httpx.Client(base_url=url) as c:
        for path in ("/", "/papers/2026-11-26", "/search?q=paper", "/feed.atom",
                     "/topics/attention.atom"):  # fmt: skip
            r = c.get(path)
            assert r.status_code == 404, path
            assert "Search papers" not in r.text  # no site bar pointing at pages that are off
        token = make_token("alice@example.org", "web-test-secret-0123456789", now=NOW)
        assert c.get("/unsubscribe", params={"token": token}).status_code == 200
        assert c.get("/d/" + "A" * 27).status_code == 404  # the archive still answers
        assert c.get("/healthz").text == "ok\n"


def test_hostile_requests_never_stop_the_others(client: httpx.Client, store: Store) -> None:
    add(store, [paper(1, popularity=3)])
    base = str(client.base_url)
    for path, expected in (
        ("/news/search?q=%00", 400),
        ("/news/search?q=" + "(" * 300, 400),
        ("/news/search?q=" + "a%20OR%20" * 60 + "b", 200),  # long but valid
        ("/news/search?q=" + "%22" * 499, 400),
        ("/news/papers/%ff%fe", 404),
        ("/news/topics/..%2F..%2Fetc%2Fpasswd.atom", 404),
        ("/news/d/%00%00", 404),
        ("/news/d/" + "A" * 27 + "%00", 404),
        ("/news/../../etc/passwd", 404),
    ):
        status, body = raw_get(base, path)
        assert status == expected, (path, status)
        assert "Traceback" not in body
    assert client.get("/").status_code == 200
    assert "Paper number 1" in client.get("/").text
