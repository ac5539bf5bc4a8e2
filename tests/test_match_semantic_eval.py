"""The labelled set behind the semantic-topic measurements is whole and split as documented.

No model needed: this checks the data file the benchmark (``python -m bench.semantic``) reads.
"""

from __future__ import annotations

import json

from bench.semantic import DATA, half_entries, in_tuning_half, load
from newsletter.demo import sample_papers


def test_every_topic_has_enough_positives_in_both_halves() -> None:
    papers, topics = load()
    ids = {p["id"] for p in papers}
    assert len(papers) >= 300 and len(ids) == len(papers)
    assert len(topics) >= 10
    for topic in topics:
        assert topic.positives <= ids, topic.id
        assert len(topic.positives) >= 10, topic.id
        tune = sum(in_tuning_half(i) for i in topic.positives)
        assert tune >= 5 and len(topic.positives) - tune >= 5, topic.id


def test_the_halves_partition_the_papers_by_hash() -> None:
    papers, _ = load()
    tune, held_out = half_entries(papers, "tune"), half_entries(papers, "held-out")
    assert len(tune) + len(held_out) == len(papers)
    assert {e.key for e in tune}.isdisjoint(e.key for e in held_out)
    assert 0.4 < len(tune) / len(papers) < 0.6


def test_the_sample_papers_are_not_in_the_set() -> None:
    papers, _ = load()
    titles = {p["title"].casefold() for p in papers}
    assert not titles & {p["title"].casefold() for p in sample_papers()}


def test_the_labelling_rule_heads_the_labels_file() -> None:
    labels = json.loads((DATA / "labels.json").read_text())
    assert next(iter(labels)) == "rule" and labels["rule"]
    assert all(t["about"] and t["scope"] for t in labels["topics"])
