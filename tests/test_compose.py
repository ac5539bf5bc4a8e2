"""Composition rules, on hand-built records: no network, no database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from newsletter.compose import Composition, composition, merge_spans, popularity_order
from newsletter.records import Digest, Entry, Subscriber, Topic, TopicMatch

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
SPEECH = Topic(id="speech", title="Speech", query="speech")
AUDIO = Topic(id="audio", title="Audio", query="audio")
READER = Subscriber(email="r@example.org", topics=(SPEECH, AUDIO), schedule="daily")


def entry(key: str, *, hours_ago: float = 1, seen_hours_ago: float | None = None) -> Entry:
    published = NOW - timedelta(hours=hours_ago)
    seen = NOW - timedelta(hours=seen_hours_ago if seen_hours_ago is not None else hours_ago)
    return Entry(
        key=key, title=key, link=f"https://e.org/{key}", published=published, first_seen=seen
    )


def compose(*args: Any, **kwargs: Any) -> Digest | None:
    return composition(*args, **kwargs).digest


def first_composition(
    reader: Subscriber, entries: list[Entry], matches: Any, **options: Any
) -> Composition:
    """A first digest (7-day lookback) composed now."""
    options.setdefault("taken", set())
    options.setdefault("max_items", 25)
    return composition(
        reader,
        entries,
        matches,
        since=NOW - timedelta(days=7),
        first_digest=True,
        now=NOW,
        **options,
    )


def hit(topic: str, score: float, span: tuple[int, int] = (0, 1)) -> TopicMatch:
    return TopicMatch(topic_id=topic, score=score, terms=(topic,), title_spans=(span,))


def test_an_entry_matching_two_topics_appears_once_in_its_best_section() -> None:
    entries = [entry("a"), entry("b")]
    matches = {
        "a": {"speech": hit("speech", 1.0), "audio": hit("audio", 3.0, (2, 4))},
        "b": {"speech": hit("speech", 2.0)},
    }
    digest = compose(
        READER,
        entries,
        matches,
        taken=set(),
        since=NOW - timedelta(days=7),
        first_digest=True,
        max_items=25,
        now=NOW,
    )
    assert digest is not None
    assert [(s.topic.id, [i.entry.key for i in s.items]) for s in digest.sections] == [
        ("speech", ["b"]),
        ("audio", ["a"]),
    ]
    (a,) = digest.sections[1].items
    assert a.topics == ("Audio", "Speech")
    assert a.title_spans == ((0, 1), (2, 4))
    assert digest.entry_keys == ("b", "a")


def test_nothing_new_gives_no_digest() -> None:
    entries = [entry("a")]
    matches = {"a": {"speech": hit("speech", 1.0)}}
    kwargs = {"since": NOW - timedelta(days=7), "first_digest": True, "max_items": 25, "now": NOW}
    assert compose(READER, entries, matches, taken={"a"}, **kwargs) is None  # type: ignore[arg-type]
    assert compose(READER, entries, {}, taken=set(), **kwargs) is None  # type: ignore[arg-type]
    other = {"a": {"elsewhere": hit("elsewhere", 9.0)}}  # a topic this reader does not have
    assert compose(READER, entries, other, taken=set(), **kwargs) is None  # type: ignore[arg-type]


def test_first_digest_reaches_back_by_publication_date_only() -> None:
    old = entry("old", hours_ago=24 * 30, seen_hours_ago=1)
    recent = entry("recent", hours_ago=2)
    matches = {k: {"speech": hit("speech", 1.0)} for k in ("old", "recent")}
    digest = compose(
        READER,
        [old, recent],
        matches,
        taken=set(),
        since=NOW - timedelta(days=7),
        first_digest=True,
        max_items=25,
        now=NOW,
    )
    assert digest is not None and [i.entry.key for i in digest.items] == ["recent"]


def test_later_digests_take_what_arrived_strictly_after_the_last_one() -> None:
    last = NOW - timedelta(hours=3)
    late_arrival = entry("late", hours_ago=24 * 30, seen_hours_ago=1)  # old paper, new feed
    known = entry("known", hours_ago=5, seen_hours_ago=3)  # seen when the last digest was made
    matches = {k: {"speech": hit("speech", 1.0)} for k in ("late", "known")}
    digest = compose(
        READER,
        [late_arrival, known],
        matches,
        taken=set(),
        since=last,
        first_digest=False,
        max_items=25,
        now=NOW,
    )
    assert digest is not None and [i.entry.key for i in digest.items] == ["late"]


def test_max_items_keeps_the_best_then_newest() -> None:
    entries = [entry(f"e{n}", hours_ago=n) for n in range(5)]
    scores = {"e0": 1.0, "e1": 5.0, "e2": 5.0, "e3": 2.0, "e4": 0.5}
    matches = {k: {"speech": hit("speech", s)} for k, s in scores.items()}
    digest = compose(
        READER,
        entries,
        matches,
        taken=set(),
        since=NOW - timedelta(days=1),
        first_digest=True,
        max_items=3,
        now=NOW,
    )
    assert digest is not None
    assert [i.entry.key for i in digest.items] == ["e1", "e2", "e3"]


def test_merge_spans() -> None:
    assert merge_spans([(5, 8), (0, 2), (1, 3), (8, 9)]) == ((0, 3), (5, 9))
    assert merge_spans([]) == ()


def test_counts_say_why_matches_were_left_out_and_the_digest_says_how_many_were_cut() -> None:
    old = entry("old", hours_ago=24 * 9)  # before the 7-day lookback
    entries = [old, entry("had"), *(entry(f"n{i}", hours_ago=1 + i) for i in range(4))]
    matches = {e.key: {"speech": hit("speech", 1.0)} for e in entries}
    matches["n0"]["audio"] = hit("audio", 0.5)
    result = first_composition(
        READER,
        entries,
        matches,
        taken={"had"},
        max_items=3,
    )
    assert result.digest is not None and result.digest.omitted == 1
    speech, audio = result.counts
    # 6 matched: 1 too old, 1 already delivered, 4 new of which 3 fit and 1 was cut.
    assert (speech.matched, speech.older, speech.delivered, speech.shown, speech.cut) == (
        6,
        1,
        1,
        3,
        1,
    )
    assert (audio.matched, audio.shown, audio.cut) == (1, 1, 0)


def test_nothing_new_still_explains_itself() -> None:
    entries = [entry("old", hours_ago=24 * 9)]
    result = first_composition(
        READER,
        entries,
        {"old": {"speech": hit("speech", 1.0)}},
        taken=set(),
        max_items=25,
    )
    assert result.digest is None
    assert [(c.topic.id, c.matched, c.older) for c in result.counts] == [
        ("speech", 1, 1),
        ("audio", 0, 0),
    ]


def popular(key: str, upvotes: int | None, *, hours_ago: float = 1) -> Entry:
    return replace(entry(key, hours_ago=hours_ago), popularity=upvotes)


TRENDING = Topic(id="trending", title="Trending", trending=3)


def test_trending_takes_the_most_upvoted_new_papers_in_upvote_order() -> None:
    papers = [
        popular("few", 2),
        popular("none-new", None, hours_ago=1),
        popular("none-old", None, hours_ago=5),
        popular("many", 90),
        popular("some", 40),
        popular("had", 500),  # already delivered
        popular("stale", 900, hours_ago=24 * 9),  # before the lookback
    ]
    reader = Subscriber(email="r@example.org", topics=(TRENDING,), schedule="daily")
    result = first_composition(
        reader,
        [],
        {},
        taken={"had"},
        max_items=1,  # trending has its own N: max_items does not cut it
        popular=popularity_order(papers),
    )
    assert result.digest is not None
    (section,) = result.digest.sections
    assert [i.entry.key for i in section.items] == ["many", "some", "few"]
    assert result.digest.omitted == 0
    # With fewer upvoted papers, those without a figure come after, newest first.
    more = Subscriber(
        email="r@example.org",
        topics=(replace(TRENDING, trending=6),),
        schedule="daily",
    )
    digest = first_composition(
        more,
        [],
        {},
        taken=set(),
        max_items=25,
        popular=popularity_order(papers),
    ).digest
    assert digest is not None
    assert [i.entry.key for i in digest.items] == [
        "had",
        "many",
        "some",
        "few",
        "none-new",
        "none-old",
    ]


def test_a_trending_paper_is_not_repeated_and_its_card_names_both_topics() -> None:
    papers = [popular("hot", 50), popular("cold", None), popular("warm", 10)]
    reader = Subscriber(
        email="r@example.org", topics=(SPEECH, replace(TRENDING, trending=1)), schedule="daily"
    )
    matches = {"hot": {"speech": hit("speech", 1.0)}, "cold": {"speech": hit("speech", 2.0)}}
    digest = first_composition(
        reader,
        [papers[0], papers[1]],
        matches,
        taken=set(),
        max_items=25,
        popular=popularity_order(papers),
    ).digest
    assert digest is not None
    assert [(s.topic.id, [i.entry.key for i in s.items]) for s in digest.sections] == [
        ("speech", ["cold"]),
        ("trending", ["hot"]),
    ]
    assert digest.sections[1].items[0].topics == ("Trending", "Speech")


def test_a_trending_topic_with_a_query_ranks_only_what_it_matched() -> None:
    speech_trending = Topic(id="st", title="Speech, trending", query="speech", trending=2)
    reader = Subscriber(email="r@example.org", topics=(speech_trending,), schedule="daily")
    papers = [popular("a", 5), popular("b", 50), popular("c", 500), popular("d", 1)]
    matches = {k: {"st": hit("st", 1.0)} for k in ("a", "b", "d")}
    result = first_composition(
        reader,
        [papers[0], papers[1], papers[3]],
        matches,
        taken=set(),
        max_items=25,
    )
    assert result.digest is not None
    assert [i.entry.key for i in result.digest.items] == ["b", "a"]
    (count,) = result.counts
    assert (count.matched, count.shown, count.cut) == (3, 2, 1)
