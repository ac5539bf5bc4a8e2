"""Sample digests that take every branch of the default templates.

The renderer renders :func:`sample` when it is built (a template broken for everyone fails
there, before any subscriber's digest) and ``check`` also renders :func:`bare`; both use
characters that need escaping, so the fast path's filling-in is exercised too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.records import Digest, DigestItem, DigestLinks, Entry, Section, Subscriber, Topic

WHEN = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
BASE = "https://example.org/newsletter/"


def _entry(n: int, **overrides: object) -> Entry:
    values: dict[str, object] = {
        "key": f"arxiv:2401.0000{n}",
        "title": f"Attention & <sample> paper “{n}” about attention",
        "link": f"https://arxiv.org/abs/2401.0000{n}",
        "published": WHEN,
        "abstract": (
            'We study attention in "quoted" & <bracketed> settings, at length: attention '
            "helps. Code: https://github.com/example/sample. " * 8
        ),
        "authors": ("A. Author", "B. Autor", "C. Äuthor", "D. Author", "E. Author"),
        "categories": ("cs.LG", "cs.CL"),
        "feeds": ("arxiv",),
        "popularity": 30 + n,
        "arxiv_id": f"2401.0000{n}",
        "version": 2,
    }
    values.update(overrides)
    return Entry(**values)  # type: ignore[arg-type]


def _spans(text: str, word: str) -> tuple[tuple[int, int], ...]:
    found = [i for i in range(len(text)) if text.lower().startswith(word, i)]
    return tuple((i, i + len(word)) for i in found[:3])


def _item(entry: Entry, *topics: str) -> DigestItem:
    return DigestItem(
        entry=entry,
        score=1.0,
        topics=topics,
        title_spans=_spans(entry.title, "attention"),
        abstract_spans=_spans(entry.abstract, "attention"),
    )


def sample() -> tuple[Digest, DigestLinks]:
    """Trending and ordinary sections, highlights, a cut (``omitted``), an "Updated" list,
    every link set and a subscriber name."""
    trending = Topic(id="trending", title="Trending today", trending=10)
    topic = Topic(id="attention", title="Attention & co", query="attention")
    other = Topic(id="speech", title="Speech", query="speech")
    papers = [_entry(n) for n in range(1, 4)]
    bare = _entry(4, link="/relative", abstract="", authors=(), popularity=None, categories=())
    digest = Digest(
        subscriber=Subscriber(
            email="check@example.org",
            topics=(trending, topic, other),
            schedule="daily",
            name="Zoë <Sample> O'Reader",
        ),
        sections=(
            Section(topic=trending, items=(_item(papers[0], "Trending today", "Attention & co"),)),
            Section(topic=topic, items=(_item(papers[1], "Attention & co"), _item(bare, "Speech"))),
            Section(topic=other, items=(_item(papers[2], "Speech"),)),
        ),
        created=WHEN,
        updated=(_entry(5, version=3), _entry(6, version=None, link="")),
        omitted=7,
    )
    links = DigestLinks(
        unsubscribe_url=f"{BASE}unsubscribe?token=s4mple&list=a b",
        manage_url=f"{BASE}manage?token=s4mple",
        view_url=f"{BASE}d/s4mple",
        all_url=f"{BASE}d/s4mple/all",
    )
    return digest, links


def bare() -> tuple[Digest, DigestLinks]:
    """The other side of each branch: no name, no optional links, nothing cut or updated."""
    topic = Topic(id="attention", title="Attention", query="attention")
    digest = Digest(
        subscriber=Subscriber(email="bare@example.org", topics=(topic,), schedule="daily"),
        sections=(Section(topic=topic, items=(_item(_entry(1, popularity=None), "Attention"),)),),
        created=WHEN,
    )
    return digest, DigestLinks(unsubscribe_url=f"{BASE}unsubscribe?token=b4re")


def overflowing(count: int = 40) -> tuple[Digest, DigestLinks]:
    """More papers than a small budget holds: some become title links."""
    digest, links = sample()
    topic = digest.sections[1].topic
    items = tuple(_item(_entry(10 + n), "Attention & co") for n in range(count))
    return Digest(
        subscriber=digest.subscriber,
        sections=(Section(topic=topic, items=items),),
        created=WHEN,
        omitted=3,
    ), links
