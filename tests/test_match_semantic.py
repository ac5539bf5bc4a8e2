# ruff: noqa: E402  (numpy must be importable before the semantic module is imported)
"""Semantic (``about``) topics: availability message, calibration, require, caching,
and the real offline model when the ``semantic`` extra is installed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

np = pytest.importorskip("numpy")

from newsletter.match import (
    Matcher,
    semantic,
)
from newsletter.match.semantic import (
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_MIN_Z,
    DEFAULT_SURE_SIMILARITY,
    MemoryVectorCache,
    SemanticScorer,
    decide,
    split_sentences,
)
from newsletter.records import Entry, Topic


def entry(key: str, title: str, abstract: str = "", popularity: int | None = None) -> Entry:
    return Entry(
        key=key,
        title=title,
        link=f"https://example.org/{key}",
        published=datetime(2024, 5, 1, tzinfo=UTC),
        abstract=abstract,
        popularity=popularity,
    )


class ConceptEmbedder:
    """A small, exact embedder for testing the logic: words map to hand-picked concepts.

    Texts about the same concept get cosine 1 whatever their words, so tests can state
    what should match without depending on a learned model.
    """

    name = "concepts-v1"
    CONCEPTS: ClassVar[dict[str, list[str]]] = {
        "speech": ["speech", "voice", "tts", "spoken", "audio", "text-to-speech"],
        "vision": ["image", "images", "pixel", "vision", "segmentation"],
        "chemistry": ["molecule", "molecules", "chemistry", "drug"],
    }

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Any:
        self.calls += 1
        out = np.zeros((len(texts), len(self.CONCEPTS) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[\w-]+", text.lower())
            for col, vocab in enumerate(self.CONCEPTS.values()):
                out[row, col] = sum(w in vocab for w in words)
            # a little text-specific noise so unrelated texts are not all identical
            out[row, -1] = 0.3 + int(hashlib.sha1(text.encode()).hexdigest()[:2], 16) / 2550
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def scorer() -> SemanticScorer:
    return SemanticScorer(ConceptEmbedder())


def test_sentences_are_the_title_then_the_abstract_sentences() -> None:
    e = entry("a", "A title", "First one. Second, e.g. this. Third? 4th is short.")
    assert split_sentences(e) == [
        "A title",
        "First one.",
        "Second, e.g. this.",
        "Third?",
        "4th is short.",
    ]


def test_about_matches_without_a_shared_keyword() -> None:
    docs = [
        entry("tts", "Neural TTS", "We build voice models. Results are spoken aloud."),
        entry("img", "Pixel transformers", "Segmentation of images."),
        entry("mol", "Drug design", "Molecules and chemistry."),
    ]
    m = Matcher([Topic(id="s", title="Speech", about="speech synthesis")], semantic=scorer())
    result = m.match(docs)
    assert set(result["tts"]) == {"s"} and not result["img"] and not result["mol"]
    match = result["tts"]["s"]
    assert match.similarity is not None and match.similarity > 0.55
    assert match.terms == () and match.title_spans == ()
    assert match.score == pytest.approx(4 * match.similarity, abs=1e-3)


def test_either_and_both_combine_query_and_about() -> None:
    docs = [
        entry("kw-only", "Speech recognition is robust", "x"),  # keyword, about (speech) too
        entry("sem-only", "Neural TTS", "Voice models."),  # about only
        entry("kw-not-sem", "Fast speechless molecules", "Drug chemistry."),  # neither
        entry("img", "Image segmentation", "pixels"),
    ]
    topics = [
        Topic(id="either", title="e", query="recognition OR molecules", about="speech voice"),
        Topic(
            id="both",
            title="b",
            query="recognition OR molecules",
            about="speech voice",
            require="both",
        ),
    ]
    result = Matcher(topics, semantic=scorer()).match(docs)
    assert set(result["kw-only"]) == {"either", "both"}
    assert set(result["sem-only"]) == {"either"}
    assert set(result["kw-not-sem"]) == {"either"}  # its keyword matches; about does not
    assert not result["img"]
    kw = result["kw-only"]["either"]
    assert kw.terms == ("recognition",) and kw.similarity is not None


def test_threshold_per_topic_replaces_calibration() -> None:
    docs = [entry("mixed", "Neural TTS for images", "Voice and pixel models.")]
    s = scorer()
    strict = Topic(id="t", title="t", about="speech", threshold=0.9)
    loose = Topic(id="t", title="t", about="speech", threshold=0.5)
    assert Matcher([strict], semantic=s).match(docs)["mixed"] == {}
    match = Matcher([loose], semantic=s).match(docs)["mixed"]["t"]
    assert match.similarity is not None and 0.5 <= match.similarity < 0.9


def test_calibration_uses_the_batch_scale_and_absolute_bounds() -> None:
    floor, sure = DEFAULT_MIN_SIMILARITY, DEFAULT_SURE_SIMILARITY
    low, standing_out = floor - 0.3, floor + 0.02
    sims = np.array([low] * 30 + [standing_out, sure + 0.01], dtype=np.float32)
    # both stand far out of the batch and pass the floor
    assert decide(sims, None).nonzero()[0].tolist() == [30, 31]
    # a small batch: only the absolute "sure" cut-off applies
    small = np.array([low, standing_out, sure + 0.01], dtype=np.float32)
    assert decide(small, None).tolist() == [False, False, True]
    # a batch where every entry is on topic stays matched
    assert decide(np.full(40, sure + 0.1, dtype=np.float32), None).all()
    # nothing below the floor, however far it stands out
    assert not decide(np.array([0.0] * 40 + [floor - 0.01], dtype=np.float32), None).any()


def test_how_far_an_entry_must_stand_out_is_a_knob() -> None:
    rng = np.random.default_rng(7)
    sims = np.clip(rng.normal(0.45, 0.05, 200), 0, None).astype(np.float32)
    z = (sims - sims.mean()) / sims.std()
    default = decide(sims, None, floor=0.0, sure=9.0)
    assert default.tolist() == (z >= DEFAULT_MIN_Z).tolist() and default.any()
    looser = decide(sims, None, floor=0.0, sure=9.0, min_z=1.0)
    assert looser.sum() > default.sum()


def test_the_topics_own_words_lift_an_entry_the_model_cannot_tell_apart() -> None:
    # Same concept counts for the model (speech, voice) — only the wording differs.
    docs = [
        entry("words", "Speech synthesis", "Voice models for speech synthesis."),
        entry("other", "Neural TTS", "Voice models for TTS voices."),
    ] + [entry(f"bg{i}", f"Pixel study {i}", "Images and segmentation.") for i in range(30)]
    s = SemanticScorer(ConceptEmbedder())
    best, _ = s.cosines(["speech synthesis"], docs)
    row = s.similarities(["speech synthesis"], docs)[0]
    assert abs(float(best[0, 0] - best[0, 1])) < 0.05  # the model sees the same thing
    assert row[0] - row[1] > 0.2  # the words make the difference


def test_one_on_topic_part_counts_in_an_otherwise_unrelated_abstract() -> None:
    off = "Images are segmented. Pixels are labelled. Segmentation runs fast."
    on = "Voice models speak. Speech is spoken. Audio is voiced."
    docs = [entry("part", "Pixel study", f"{off} {on}"), entry("none", "Pixel study", off)]
    row = SemanticScorer(ConceptEmbedder()).similarities(["voice"], docs)[0]
    assert row[0] > row[1] + 0.3


def test_entries_are_embedded_once_and_topics_once() -> None:
    embedder = ConceptEmbedder()
    s = SemanticScorer(embedder)
    topics = [Topic(id=f"u{i}", title="t", about="speech synthesis") for i in range(20)]
    docs = [entry("tts", "Neural TTS", "Voice."), entry("img", "Images", "Pixels.")]
    m = Matcher(topics, semantic=s)
    assert m.stats.about_texts == 1
    m.match(docs)
    assert s.embedded_entries == 2
    calls = embedder.calls
    m.match(docs)  # same texts: served from the cache
    assert s.embedded_entries == 2 and embedder.calls == calls
    m.match([entry("tts", "Neural TTS", "Voice, revised.")])  # edited abstract: new vector
    assert s.embedded_entries == 3


def test_vectors_are_shared_through_the_cache_between_scorers() -> None:
    cache = MemoryVectorCache()
    docs = [entry("tts", "Neural TTS", "Voice. Audio. Speech. Spoken words.")]
    first = SemanticScorer(ConceptEmbedder(), cache)
    first.similarities(["speech"], docs)
    embedder = ConceptEmbedder()
    second = SemanticScorer(embedder, cache)
    assert second.similarities(["speech"], docs)[0, 0] == first.similarities(["speech"], docs)[0, 0]
    assert second.embedded_entries == 0 and embedder.calls == 1  # only the topic was embedded


def test_popularity_lifts_semantic_scores_too() -> None:
    docs = [entry("a", "Neural TTS", "Voice."), entry("b", "Neural TTS", "Voice.", popularity=50)]
    result = Matcher([Topic(id="t", title="t", about="speech")], semantic=scorer()).match(docs)
    assert result["b"]["t"].score > result["a"]["t"].score


@pytest.mark.skipif(not semantic.semantic_available(), reason="needs the 'semantic' extra")
def test_real_model_matches_by_meaning_offline() -> None:
    docs = [
        entry(
            "tts",
            "Expressive text-to-speech models",
            "We generate natural-sounding voices from written text.",
        ),
        entry("seg", "Road scene segmentation", "Pixel-wise labels for autonomous driving images."),
        entry(
            "mol", "Molecular property prediction", "Graph networks predict toxicity of compounds."
        ),
    ]
    result = Matcher([Topic(id="t", title="t", about="speech synthesis", threshold=0.4)]).match(
        docs
    )
    assert set(result["tts"]) == {"t"}
    assert not result["seg"] and not result["mol"]
    assert result["tts"]["t"].similarity is not None and result["tts"]["t"].similarity > 0.4
