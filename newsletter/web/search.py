"""Search with the topic language over the newest stored papers, with bounded work.

The matcher explains every hit (spans, words, score) and takes a few milliseconds per
paper to analyse, too slow to run over thousands of papers per request. So:

1. the corpus is the ``SEARCH_PAPERS`` newest papers, kept in memory per revision with
   their text case-folded (no database read of unchanged papers);
2. a cheap, conservative filter drops papers that cannot match: a word or prefix the
   query requires must occur in the folded text (``NOT`` is never used to drop);
3. the matcher ranks the candidates that remain, at most ``RANKED_MAX`` of the newest.

The filter never drops a paper the matcher would match: keys differ from the folded
text only in a plural's tail (``studies`` → ``study``) or a possessive, so the key
without a final ``y`` is always a substring of the folded text of a matching word.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from newsletter.match import And, Field, Matcher, Node, Not, Or, Phrase, Prefix, Term, parse
from newsletter.match.folding import fold, plural_key
from newsletter.records import Entry, Topic
from newsletter.store.protocols import EntryStore, PaperStore
from newsletter.web.papers import Paper, paper

SEARCH_PAPERS = 5000
"""How many of the newest papers a search looks at."""
RANKED_MAX = 400
"""Candidates the matcher ranks per search, newest first; past this the page says so."""
SHOWN = 100


class SearchStore(EntryStore, PaperStore, Protocol):
    """The store as search reads it."""


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


def _folded(entry: Entry) -> str:
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
    if isinstance(node, Not):
        return True
    return True


class SearchIndex:
    """The search corpus, kept per paper revision, and the search itself."""

    def __init__(self, store: SearchStore, corpus: int = SEARCH_PAPERS) -> None:
        self.store = store
        self.corpus = corpus
        self._papers: dict[str, tuple[int, Entry, str]] = {}
        """The current corpus: key → (revision, entry, folded text)."""
        self._lock = threading.Lock()

    def _load(self) -> list[tuple[Entry, str]]:
        """The corpus, newest first; only papers with a new revision are read again."""
        refs = self.store.newest_refs(self.corpus)
        with self._lock:
            known = dict(self._papers)
        current: dict[str, tuple[int, Entry, str]] = {}
        stale = []
        for ref in refs:
            cached = known.get(ref.key)
            if cached is not None and cached[0] == ref.revision:
                current[ref.key] = cached
            else:
                stale.append(ref.key)
        for key, stored in (self.store.read_entries(stale) if stale else {}).items():
            current[key] = (stored.revision, stored.entry, _folded(stored.entry))
        with self._lock:
            self._papers = current
        return [(found[1], found[2]) for ref in refs if (found := current.get(ref.key))]

    def search(self, query: str) -> SearchResult:
        """Papers matching ``query`` (already checked with ``check_query``), best first."""
        node = parse(query)
        corpus = self._load()
        candidates = [entry for entry, text in corpus if may_match(node, text)]
        capped = len(candidates) > RANKED_MAX
        candidates = candidates[:RANKED_MAX]  # the corpus is newest first
        found = Matcher([Topic(id="search", title="Search", query=query)]).match(candidates)
        hits = [(found[e.key]["search"], e) for e in candidates if "search" in found[e.key]]
        hits.sort(key=lambda hit: (-hit[0].score, -hit[1].published.timestamp(), hit[1].key))
        papers = [paper(e, m.title_spans, m.abstract_spans) for m, e in hits[:SHOWN]]
        return SearchResult(papers, len(hits), len(corpus), len(candidates), capped)
