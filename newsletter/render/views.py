"""What templates receive: plain, pre-computed values built from the records.

A :class:`Card` depends only on the digest item (entry, highlight spans, matched topics)
and the abstract length chosen by the size budget, so a card shared by many subscribers is
computed and rendered once per run. Builders take a :class:`Marking`: the naive renderer
passes :data:`PLAIN`, the fast one :data:`HOLES` (values that mark where they are printed,
see :mod:`newsletter.render.holes`). ``docs/templates.md`` lists every field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsletter.records import Digest, DigestItem, Entry
from newsletter.render import holes, textutil


@dataclass(frozen=True, slots=True)
class Marking:
    """How values are handed to templates: as they are, or as hole values."""

    text: Callable[[str], str]
    number: Callable[[int], int]

    def maybe(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)


def _same(value: str) -> str:
    return value


def _same_int(value: int) -> int:
    return value


PLAIN = Marking(_same, _same_int)
HOLES = Marking(holes.hole, holes.hole_int)

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
    """One topic's section: ``start`` is the number of its first paper in the text digest;
    ``trending`` sections show each paper's upvotes prominently."""

    title: str
    count: int
    cards: tuple[Card, ...]
    start: int
    trending: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of the digest fits: abstract length and how many papers keep a full card."""

    limit: int
    shown: int


CardKey = tuple[
    Entry, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...], tuple[str, ...], int
]


VIEW_FIELDS: dict[type, frozenset[str]] = {
    cls: frozenset(cls.__dataclass_fields__) for cls in (Card, Run, Link, SectionView)
}
"""The attributes templates read on the view records: plain data, nothing else."""


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


@dataclass(frozen=True, slots=True)
class EntryFields:
    """What a card shows of a paper whoever gets it (cached per paper by the fast path)."""

    key: str
    url: str | None
    authors: str
    source: str
    categories: str
    date: str
    upvotes: int | None
    pdf_url: str | None
    code_url: str | None


def entry_fields(entry: Entry, mark: Marking = PLAIN) -> EntryFields:
    text = mark.text
    return EntryFields(
        key=text(entry.key),
        url=mark.maybe(textutil.safe_url(entry.link)),
        authors=text(short(textutil.shorten_authors(entry.authors), 200)),
        source=text(
            short(", ".join(textutil.clean(f) for f in entry.feeds if textutil.clean(f)), 80)
        ),
        categories=text(
            short(", ".join(textutil.clean(c) for c in entry.categories if textutil.clean(c)), 120)
        ),
        date=text(textutil.format_date(entry.published)),
        upvotes=None if entry.popularity is None else mark.number(entry.popularity),
        pdf_url=mark.maybe(pdf_url(entry)),
        code_url=mark.maybe(textutil.code_url(entry.abstract)),
    )


def make_card(
    item: DigestItem, limit: int, mark: Marking = PLAIN, fields: EntryFields | None = None
) -> Card:
    """Build the card for one digest item with the abstract cut to ``limit`` characters
    (``fields``: the paper's :func:`entry_fields`, when the caller keeps them)."""
    entry = item.entry
    text = mark.text
    fields = fields or entry_fields(entry, mark)
    title_runs = textutil.clean_runs(textutil.split_spans(entry.title, item.title_spans))
    runs = textutil.clean_runs(textutil.split_spans(entry.abstract, item.abstract_spans))
    excerpt, cut = textutil.excerpt_runs(runs, limit)
    title_runs, _ = textutil.excerpt_runs(title_runs, TITLE_LIMIT)
    title = "".join(t for t, _ in title_runs) or "(untitled)"
    return Card(
        key=fields.key,
        title=text(title),
        title_runs=tuple(Run(text(t), m) for t, m in title_runs) or (Run(text(title)),),
        url=fields.url,
        authors=fields.authors,
        source=fields.source,
        categories=fields.categories,
        date=fields.date,
        upvotes=fields.upvotes,
        excerpt=tuple(Run(text(t), m) for t, m in excerpt),
        excerpt_cut=cut,
        pdf_url=fields.pdf_url,
        code_url=fields.code_url,
        topics=tuple(text(textutil.clean(t)) for t in item.topics if textutil.clean(t)),
    )


def link_for(entry: Entry, note: str = "", mark: Marking = PLAIN) -> Link:
    """A title link for the overflow and "Updated" lists."""
    title = short(textutil.clean(entry.title), TITLE_LIMIT) or "(untitled)"
    return Link(mark.text(title), mark.maybe(textutil.safe_url(entry.link)), mark.text(note))


def updated_links(digest: Digest, mark: Marking = PLAIN) -> tuple[Link, ...]:
    """The "Updated" list: later versions of papers the subscriber already got."""
    updated = digest.updated[:MORE_LINKS_LIMIT]
    return tuple(link_for(e, f"version {e.version}" if e.version else "", mark) for e in updated)


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
    digest: Digest, plan: Plan, cards: Sequence[Card], mark: Marking = PLAIN
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
                    more.append(link_for(item.entry, mark=mark))
            index += 1
        if shown:
            title = textutil.clean(section.topic.title) or section.topic.id
            out.append(
                SectionView(
                    mark.text(title),
                    mark.number(len(section.items)),
                    tuple(shown),
                    start,
                    section.topic.trending is not None,
                )
            )
    return tuple(out), tuple(more), hidden


@dataclass(frozen=True, slots=True)
class Cut:
    """Matches a digest does not show as cards, and why: ``listed`` went past the size
    budget (shown by title below), ``omitted`` past ``digest.max_items`` (not in the mail)."""

    listed: int
    omitted: int
    limit: int
    """Papers in the digest: what ``max_items`` allowed when ``omitted`` is set."""

    @property
    def count(self) -> int:
        return self.listed + self.omitted

    @property
    def heading(self) -> str:
        """``And 12 more matches`` — the same words in HTML and text."""
        return f"And {textutil.plural(self.count, 'more match', 'more matches')}"

    @property
    def reason(self) -> str:
        """Which cause(s) cut the digest, in one sentence."""
        listed = "listed by title only, to keep this email small enough to open in full"
        omitted = f"not included: a digest holds at most {textutil.plural(self.limit, 'paper')}"
        if self.listed and self.omitted:
            return (
                f"{self.listed} {_is(self.listed)} {listed}; "
                f"{self.omitted} {_is(self.omitted)} {omitted}."
            )
        sentence = listed if self.listed else omitted
        return sentence[0].upper() + sentence[1:] + "."


def _is(n: int) -> str:
    return "is" if n == 1 else "are"


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
