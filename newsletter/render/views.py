"""What templates receive: plain, pre-computed values built from the records.

A :class:`Card` depends only on the digest item (entry, highlight spans, matched topics)
and the abstract length chosen by the size budget, never on the subscriber, so one card
is computed, rendered and inlined once per run. ``docs/templates.md`` lists every field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsletter.records import Digest, DigestItem, Entry
from newsletter.render import textutil

ABSTRACT_LIMITS: tuple[int, ...] = (600, 320, 160)
"""Abstract excerpt lengths (characters) tried in order while the HTML is over budget."""

PREHEADER_LIMIT = 140
TITLE_LIMIT = 300
"""Feed titles longer than this are cut (keeps one card's size bounded)."""
MORE_LINKS_LIMIT = 50
"""At most this many overflow papers are listed by title; the heading counts them all."""


def short(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True, slots=True)
class Run:
    """A piece of text; ``marked`` pieces are words that matched the subscriber's topics."""

    text: str
    marked: bool = False


@dataclass(frozen=True, slots=True)
class Card:
    """One paper as shown in a digest (the same for every subscriber who gets it)."""

    key: str
    title: str
    title_runs: tuple[Run, ...]
    url: str | None
    authors: str
    source: str
    categories: str
    date: str
    upvotes: int | None
    excerpt: tuple[Run, ...]
    excerpt_cut: bool
    pdf_url: str | None
    code_url: str | None
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Link:
    """A paper listed by title only (overflow past the size budget, or an updated paper)."""

    title: str
    url: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class SectionView:
    """One topic's section: ``start`` is the number of its first paper in the text digest."""

    title: str
    count: int
    cards: tuple[Card, ...]
    start: int


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of the digest fits: abstract length and how many papers keep a full card."""

    limit: int
    shown: int


CardKey = tuple[
    Entry, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...], tuple[str, ...], int
]


def card_key(item: DigestItem, limit: int) -> CardKey:
    """Everything a card depends on (used to cache cards across subscribers)."""
    return (item.entry, item.title_spans, item.abstract_spans, item.topics, limit)


def pdf_url(entry: Entry) -> str | None:
    """The PDF link the feed gave, or arXiv's PDF URL when only the id is known."""
    if entry.pdf_link:
        return textutil.safe_url(entry.pdf_link)
    if entry.arxiv_id:
        return textutil.safe_url(f"https://arxiv.org/pdf/{entry.arxiv_id}")
    return None


def make_card(item: DigestItem, limit: int) -> Card:
    """Build the card for one digest item with the abstract cut to ``limit`` characters."""
    entry = item.entry
    title_runs = textutil.clean_runs(textutil.split_spans(entry.title, item.title_spans))
    runs = textutil.clean_runs(textutil.split_spans(entry.abstract, item.abstract_spans))
    excerpt, cut = textutil.excerpt_runs(runs, limit)
    title_runs, _ = textutil.excerpt_runs(title_runs, TITLE_LIMIT)
    title = "".join(text for text, _ in title_runs) or "(untitled)"
    return Card(
        key=entry.key,
        title=title,
        title_runs=tuple(Run(t, m) for t, m in title_runs) or (Run(title),),
        url=textutil.safe_url(entry.link),
        authors=short(textutil.shorten_authors(entry.authors), 200),
        source=short(", ".join(textutil.clean(f) for f in entry.feeds if textutil.clean(f)), 80),
        categories=short(
            ", ".join(textutil.clean(c) for c in entry.categories if textutil.clean(c)), 120
        ),
        date=textutil.format_date(entry.published),
        upvotes=entry.popularity,
        excerpt=tuple(Run(t, m) for t, m in excerpt),
        excerpt_cut=cut,
        pdf_url=pdf_url(entry),
        code_url=textutil.code_url(entry.abstract),
        topics=tuple(textutil.clean(t) for t in item.topics if textutil.clean(t)),
    )


def link_for(entry: Entry, note: str = "") -> Link:
    """A title link for the overflow and "Updated" lists."""
    title = short(textutil.clean(entry.title), TITLE_LIMIT) or "(untitled)"
    return Link(title, textutil.safe_url(entry.link), note)


def updated_links(digest: Digest) -> tuple[Link, ...]:
    """The "Updated" list: later versions of papers the subscriber already got."""
    updated = digest.updated[:MORE_LINKS_LIMIT]
    return tuple(link_for(e, f"version {e.version}" if e.version else "") for e in updated)


def summary(digest: Digest) -> str:
    """``12 new papers for your 3 topics``."""
    topics = len(digest.subscriber.topics) or len(digest.sections)
    return (
        f"{textutil.plural(len(digest.items), 'new paper')} for your "
        f"{textutil.plural(topics, 'topic')}"
    )


def preheader(digest: Digest) -> str:
    """The hidden preview line mail clients show after the subject: the first titles."""
    titles = [textutil.clean(item.entry.title) for item in digest.items[:4]]
    text = " · ".join(t for t in titles if t)
    if len(text) > PREHEADER_LIMIT:
        text = text[: PREHEADER_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    return text


def topics_text(digest: Digest) -> str:
    """The subscriber's topic titles as one phrase (``A, B and C``), for the footer."""
    titles = [textutil.clean(t.title) for t in digest.subscriber.topics]
    if not titles:
        titles = [textutil.clean(s.topic.title) for s in digest.sections]
    return textutil.join_words([t for t in titles if t])


def sections(
    digest: Digest, plan: Plan, cards: Sequence[Card]
) -> tuple[tuple[SectionView, ...], tuple[Link, ...], int]:
    """Split the digest's cards into sections; papers past ``plan.shown`` become title links.

    Returns the sections, the overflow links and how many papers overflowed.
    """
    out: list[SectionView] = []
    more: list[Link] = []
    hidden = 0
    index = 0
    for section in digest.sections:
        shown: list[Card] = []
        start = index + 1
        for item in section.items:
            if index < plan.shown:
                shown.append(cards[index])
            else:
                hidden += 1
                if len(more) < MORE_LINKS_LIMIT:
                    more.append(link_for(item.entry))
            index += 1
        if shown:
            title = textutil.clean(section.topic.title) or section.topic.id
            out.append(SectionView(title, len(section.items), tuple(shown), start))
    return tuple(out), tuple(more), hidden


def choose_plan(count: int, fits: Callable[[Plan], bool]) -> Plan:
    """The layout that fits the size budget: every paper with the longest abstract that
    fits; failing that, the most papers (binary search) with the shortest abstracts.

    Both the fast and the naive renderer call this with their own ``fits``; both measure
    the same bytes, so they choose the same plan and their output stays identical.
    """
    for limit in ABSTRACT_LIMITS:
        if fits(Plan(limit, count)):
            return Plan(limit, count)
    low, high = 0, count - 1  # Plan(shortest, low) is taken as the answer of last resort
    while low < high:
        middle = (low + high + 1) // 2
        if fits(Plan(ABSTRACT_LIMITS[-1], middle)):
            low = middle
        else:
            high = middle - 1
    return Plan(ABSTRACT_LIMITS[-1], max(low, 0))
