"""Each paper's card on the day page, rendered once per revision of the paper.

A day of 1,000 papers changes a few papers at a time (new upvotes, a new paper), so the
page is rebuilt by joining cached cards; only cards whose paper has a new revision are
rendered again. Bounded by bytes, least recently used out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from markupsafe import Markup

from newsletter.records import Entry
from newsletter.web.papers import paper
from newsletter.web.templating import render

DEFAULT_BYTES = 48 * 1024 * 1024


def render_card(entry: Entry) -> Markup:
    """One paper as the day page shows it (no search highlights)."""
    return Markup(render("card.html", p=paper(entry)))


class CardCache:
    def __init__(self, max_bytes: int = DEFAULT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._cards: OrderedDict[str, tuple[int, Markup]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str, revision: int) -> Markup | None:
        with self._lock:
            found = self._cards.get(key)
            if found is None or found[0] != revision:
                return None
            self._cards.move_to_end(key)
            return found[1]

    def put(self, key: str, revision: int, card: Markup) -> None:
        size = len(card)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._cards.pop(key, None)
            if old is not None:
                self._size -= len(old[1])
            self._cards[key] = (revision, card)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, dropped) = self._cards.popitem(last=False)
                self._size -= len(dropped)
