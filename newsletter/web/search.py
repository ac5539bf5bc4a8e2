"""Matching on the web — search and topic feeds — with bounded work per request.

The matcher explains every hit (spans, words, score) and takes a few milliseconds per
paper to analyse, too slow to run over thousands of papers per request. So:

1. papers are kept in memory per revision with their text case-folded
   (:class:`PaperMemo`), so an unchanged paper is never read from the database again;
2. a cheap, conservative filter drops papers that cannot match (:func:`may_match`: a
   word or prefix the query requires is not in the folded text; ``NOT`` never drops);
3. the matcher ranks what remains, at most ``RANKED_MAX`` of the newest candidates.

The filter never drops a paper the matcher would match: keys differ from the folded
text only in a plural's tail (``studies`` → ``study``) or a possessive, so the key
without a final ``y`` is always a substring of the folded text of a matching word.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from newsletter.match import And, Field, Matcher, Node, Or, Phrase, Prefix, Term, parse
from newsletter.match.folding import fold, plural_key
from newsletter.records import Entry, Topic, TopicMatch
from newsletter.store.protocols import EntryStore, PaperStore
from newsletter.store.records import PaperRef
from newsletter.web.papers import Paper, paper

SEARCH_PAPERS = 5000
"""How many of the newest papers a search looks at."""
RANKED_MAX = 200
"""Candidates the matcher ranks per request, newest first; past this the page says so."""
SHOWN = 100
MEMO_PAPERS = 12_000
"""Papers kept in memory (a search corpus and a week of topic feeds at 1,000 a day)."""


class MatchStore(EntryStore, PaperStore, Protocol):
    """The store as search and the topic feeds read it."""


def folded(entry: Entry) -> str:
    """Every searchable field of ``entry``, case-folded as the matcher folds words."""
    parts = [entry.title, entry.abstract, *entry.authors, *entry.categories, *entry.feeds]
    text = "\n".join(parts).casefold()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _needle(key: str) -> str:
    """What must occur in the folded text for a word with this key to be there."""
    return key[:-1] if key.endswith("y") else key


def may_match(node: Node, text: str) -> bool:
    """False only when ``node`` cannot match a paper whose folded text is ``text``."""
    if isinstance(node, Term):
        return _needle(plural_key(node.text)) in text
    if isinstance(node, Prefix):
        return fold(node.text) in text
    if isinstance(node, Phrase):
        return all(_needle(plural_key(word)) in text for word in node.words)
    if isinstance(node, And):
        return all(may_match(child, text) for child in node.children)
    if isinstance(node, Or):
        return any(may_match(child, text) for child in node.children)
    if isinstance(node, Field):
        return may_match(node.child, text)
    return True  # Not, and anything new: keep (the matcher decides)


class PaperMemo:
    """Papers by key at their current revision, with folded text; least recently used out."""

    def __init__(self, store: MatchStore, max_papers: int = MEMO_PAPERS) -> None:
        self.store = store
        self.max_papers = max_papers
        self._papers: OrderedDict[str, tuple[int, Entry, str]] = OrderedDict()
        self._lock = threading.Lock()

    def papers(self, refs: Sequence[PaperRef]) -> list[tuple[Entry, str]]:
        """Each referenced paper (in ``refs`` order) with its folded text."""
        current: dict[str, tuple[int, Entry, str]] = {}
        with self._lock:
            for ref in refs:
                cached = self._papers.get(ref.key)
                if cached is not None and cached[0] == ref.revision:
                    current[ref.key] = cached
                    self._papers.move_to_end(ref.key)
        stale = [ref.key for ref in refs if ref.key not in current]
        for key, stored in (self.store.read_entries(stale) if stale else {}).items():
            current[key] = (stored.revision, stored.entry, folded(stored.entry))
        with self._lock:
            for key in stale:
                if key in current:
                    self._papers[key] = current[key]
                    self._papers.move_to_end(key)
            while len(self._papers) > self.max_papers:
                self._papers.popitem(last=False)
        return [(found[1], found[2]) for ref in refs if (found := current.get(ref.key))]


@dataclass(frozen=True, slots=True)
class Matches:
    """What a topic matched among the candidates it was allowed to rank."""

    found: list[tuple[TopicMatch, Entry]]
    """Best first (score, then newest)."""
    ranked: int
    capped: bool


def match_topic(topic: Topic, corpus: Sequence[tuple[Entry, str]], matcher: Matcher) -> Matches:
    """``topic`` over ``corpus`` (newest first): filtered, then at most ``RANKED_MAX`` ranked."""
    if topic.query is not None and topic.about is None:
        node = parse(topic.query)
        candidates = [entry for entry, text in corpus if may_match(node, text)]
    else:  # plain words (``about``) match by meaning: no word filter applies
        candidates = [entry for entry, _ in corpus]
    capped = len(candidates) > RANKED_MAX
    candidates = candidates[:RANKED_MAX]
    result = matcher.match(candidates)
    found = [(result[e.key][topic.id], e) for e in candidates if topic.id in result[e.key]]
    found.sort(key=lambda hit: (-hit[0].score, -hit[1].published.timestamp(), hit[1].key))
    return Matches(found, len(candidates), capped)


@dataclass(frozen=True, slots=True)
class SearchResult:
    papers: list[Paper]
    """The best matches, highlighted, at most ``SHOWN``."""
    matched: int
    """Papers the matcher matched (among those it ranked)."""
    corpus: int
    """Papers looked at."""
    ranked: int
    """Candidates the matcher ranked."""
    capped: bool
    """More candidates than ``RANKED_MAX``: only the newest were ranked."""


class SearchIndex:
    """Search over the ``corpus`` newest papers."""

    def __init__(self, memo: PaperMemo, corpus: int = SEARCH_PAPERS) -> None:
        self.memo = memo
        self.corpus = corpus

    def search(self, query: str) -> SearchResult:
        """Papers matching ``query`` (already checked with ``check_query``), best first."""
        corpus = self.memo.papers(self.memo.store.newest_refs(self.corpus))
        topic = Topic(id="search", title="Search", query=query)
        matches = match_topic(topic, corpus, Matcher([topic]))
        papers = [paper(e, m.title_spans, m.abstract_spans) for m, e in matches.found[:SHOWN]]
        return SearchResult(papers, len(matches.found), len(corpus), matches.ranked, matches.capped)
