"""A small in-process cache of rendered pages, keyed by their ETag.

A key names exactly the data a page was built from (see ``responses.etag``), so an entry
never goes stale: new papers make a new key. Bounded by bytes, least recently used out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_BYTES = 32 * 1024 * 1024


class PageCache:
    def __init__(self, max_bytes: int = DEFAULT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._pages.get(key)
            if body is not None:
                self._pages.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes:  # also: a cache of 0 bytes keeps nothing
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._pages[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._size -= len(dropped)
