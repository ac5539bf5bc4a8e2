"""The embedding cache persists across store instances (a real SQLite file)."""

from __future__ import annotations

from pathlib import Path

from newsletter.store import Store


def test_vectors_survive_reopening_and_a_second_put_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    store = Store.open(url)
    cache = store.vector_cache()
    assert cache.get("model:arxiv:1:abc") is None
    cache.put("model:arxiv:1:abc", b"\x00\x01vector")
    cache.put("model:arxiv:1:abc", b"\x00\x01vector")  # a racing writer: no error
    store.close()
    again = Store.open(url)
    assert again.vector_cache().get("model:arxiv:1:abc") == b"\x00\x01vector"
    assert again.vector_cache().get("model:arxiv:2:abc") is None
    again.close()
