"""Atom out over real HTTP: valid feeds (feedparser, no bozo), stable ids, cheap to poll."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import httpx
import pytest

from newsletter.store import Store
from tests.web_support import (
    NOW,
    Clock,
    add,
    client_fixture,
    clock_fixture,
    paper,
    store_fixture,
    update,
)

DAY = timedelta(days=1)

store = pytest.fixture(store_fixture, name="store")
clock = pytest.fixture(clock_fixture, name="clock")
client = pytest.fixture(client_fixture, name="client")


def parse(response: httpx.Response) -> feedparser.FeedParserDict:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_the_site_feed_holds_the_ranked_papers_of_the_last_days(
    client: httpx.Client, store: Store
) -> None:
    add(
        store,
        [
            paper(1, popularity=3, authors=("Ada Lovelace",), categories=("cs.LG", "cs.AI")),
            paper(2, popularity=30, published=NOW - DAY),
            paper(3, published=NOW - 2 * DAY),
            paper(4, popularity=99, published=NOW - 4 * DAY),  # outside the window
        ],
    )
    feed = parse(client.get("/feed.atom"))
    assert feed.feed.title == "Paper <Digest>"
    assert feed.feed.link == "https://digest.example.org/news/"
    assert [e.title for e in feed.entries] == ["Paper number 2", "Paper number 1", "Paper number 3"]
    first = feed.entries[1]
    assert first.link == "https://huggingface.co/papers/2611.00001"
    assert {link.type: link.href for link in first.links}["application/pdf"] == (
        "https://arxiv.org/pdf/2611.00001"
    )
    assert first.author == "Ada Lovelace"
    assert [t.term for t in first.tags] == ["cs.LG", "cs.AI"]
    assert first.summary.startswith("▲ 3 upvotes. The abstract of paper 1")
    assert first.published_parsed[:5] == NOW.timetuple()[:5]
    assert first.id.startswith("urn:uuid:")


def test_ids_stay_the_same_as_the_feed_changes(
    client: httpx.Client, store: Store, clock: Clock
) -> None:
    one = paper(1, popularity=1)
    add(store, [one, paper(2)])
    before = parse(client.get("/feed.atom"))
    ids = {e.title: e.id for e in before.entries}
    assert len(set(ids.values())) == 2
    update(store, one, NOW + timedelta(minutes=1), popularity=80)
    add(store, [paper(3, published=NOW + timedelta(minutes=2))])
    clock.now = NOW + timedelta(hours=1)
    after = parse(client.get("/feed.atom"))
    assert {e.title: e.id for e in after.entries if e.title in ids} == ids
    assert after.feed.id == before.feed.id
    assert parse(client.get("/topics/attention.atom")).feed.id != before.feed.id


def test_readers_polling_get_304s_until_something_changes(
    client: httpx.Client, store: Store
) -> None:
    one = paper(1, popularity=1)
    add(store, [one])
    first = client.get("/feed.atom")
    assert first.headers["cache-control"] == "public, max-age=900"
    tag, modified = first.headers["etag"], first.headers["last-modified"]
    assert modified == "Thu, 26 Nov 2026 12:00:00 GMT"
    by_tag = client.get("/feed.atom", headers={"If-None-Match": tag})
    assert by_tag.status_code == 304 and by_tag.content == b""
    assert (
        by_tag.headers["etag"] == tag and by_tag.headers["cache-control"] == "public, max-age=900"
    )
    by_date = client.get("/feed.atom", headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304
    update(store, one, NOW + timedelta(minutes=3), popularity=7)
    changed = client.get("/feed.atom", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and "▲ 7 upvotes" in changed.text
    assert client.get("/feed.atom", headers={"If-Modified-Since": modified}).status_code == 200
    topic = client.get("/topics/attention.atom")
    again = client.get("/topics/attention.atom", headers={"If-None-Match": topic.headers["etag"]})
    assert again.status_code == 304


def test_a_topic_feed_holds_what_the_topic_matches(client: httpx.Client, store: Store) -> None:
    add(
        store,
        [
            paper(1, title="Robot hands", abstract="Grasping with attention.", popularity=2),
            paper(2, title="Robotics at scale", abstract="Fleets need attention.", popularity=50),
            paper(3, title="Sparse attention", abstract="Long context.", popularity=9),
            paper(4, title="Old robot", abstract="History.", published=NOW - 8 * DAY),
        ],
    )
    robots = parse(client.get("/topics/robots.atom"))
    assert robots.feed.title == "Paper <Digest>: Robots"
    assert sorted(e.title for e in robots.entries) == ["Robot hands", "Robotics at scale"]
    hot = parse(client.get("/topics/hot.atom"))  # trending: 2, no query: the two most upvoted
    assert [e.title for e in hot.entries] == ["Robotics at scale", "Sparse attention"]
    attention = parse(client.get("/topics/attention.atom"))
    assert [e.title for e in attention.entries] == [
        "Sparse attention",
        "Robotics at scale",
        "Robot hands",
    ]  # best match first: the title hit, then abstract hits (the more upvoted lifted)


@pytest.mark.parametrize(
    "path", ["/topics/nope.atom", "/topics/.atom", "/topics/robots.rss", "/topics/%2e%2e.atom"]
)
def test_an_unknown_topic_is_a_404_page(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"


def test_hostile_text_never_breaks_the_xml(client: httpx.Client, store: Store) -> None:
    add(
        store,
        [
            paper(
                1,
                title="<b>Bold</b> ]]> & \x1b\ufffe\x85 title",
                abstract="Line\x0cbreak \x7f <script>x</script>",
                authors=("A <a@b>", "\x07"),
                categories=("cs.&", ""),
                link="javascript:alert(1)",
            )
        ],
    )
    entry = parse(client.get("/feed.atom")).entries[0]
    assert entry.title == "<b>Bold</b> ]]> & title"
    assert "javascript" not in client.get("/feed.atom").text
    assert [t.term for t in entry.tags] == ["cs.&"]
