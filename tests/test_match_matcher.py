"""Matching rules on real text, explanation (spans, words, score) and shared-query dedupe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.match import Matcher, QuerySyntaxError
from newsletter.records import Entry, Topic, TopicMatch

TITLE = "Self-Supervised Transformers for Text-to-Speech Synthesis"
ABSTRACT = (
    "We train efficient speech models with contrastive learning. "
    "The approach improves efficiency on cs.LG benchmarks; it is not a survey."
)


def entry(
    key: str = "arxiv:1",
    title: str = TITLE,
    abstract: str = ABSTRACT,
    popularity: int | None = None,
    **extra: tuple[str, ...],
) -> Entry:
    return Entry(
        key=key,
        title=title,
        link=f"https://example.org/{key}",
        published=datetime(2024, 5, 1, tzinfo=UTC),
        abstract=abstract,
        popularity=popularity,
        authors=extra.get("authors", ("Ada Lovelace", "Alan Turing")),
        categories=extra.get("categories", ("cs.LG", "eess.AS")),
        feeds=extra.get("feeds", ("arxiv-cs",)),
    )


def match_one(query: str, doc: Entry | None = None) -> TopicMatch | None:
    doc = doc or entry()
    return Matcher([Topic(id="t", title="t", query=query)]).match([doc])[doc.key].get("t")


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        # plural folding and case folding
        ("transformer", True),
        ("TRANSFORMERS", True),
        ("Transformer's", True),
        ("model", True),  # "models" in the abstract
        ("benchmark", True),
        ("syntheses", False),  # irregular plurals are not folded
        ("learned", False),  # no derivational stemming: "learning" only
        ("modelling", False),
        ("transform", False),
        ("transform*", True),  # a prefix broadens
        ("speeches", False),  # -es after a sibilant is not undone
        ("speed", False),
        # hyphenated words are phrases, in either text
        ("self-supervised", True),
        ("supervised-self", False),
        ("text-to-speech", True),
        ("text-speech", False),
        ('"self supervised"', True),
        ("self supervised", True),
        ("speech-synthesis", True),  # "Text-to-Speech Synthesis": consecutive tokens
        ("cs.LG", True),
        ("cs-lg", True),
        # phrases: consecutive and in order
        ('"contrastive learning"', True),
        ('"learning contrastive"', False),
        ('"efficient speech models"', True),
        ('"efficient models"', False),
        # a phrase does not run from the title into the abstract
        ('"synthesis we"', False),
        # prefix: folded, not stemmed, on whole tokens
        ("efficien*", True),
        ("EFFICIEN*", True),
        ("transformers*", True),
        ("transformerz*", False),
        ("fficien*", False),
        # operators
        ("speech AND survey", True),
        ("speech AND biology", False),
        ("speech biology", False),
        ("speech OR biology", True),
        ("biology OR chemistry", False),
        ("speech NOT survey", False),
        ("speech -survey", False),
        ("speech -biology", True),
        ("speech NOT biology OR survey", True),  # (speech NOT biology) OR survey
        ("speech NOT (biology OR survey)", False),
        ("biology NOT speech OR transformer", True),  # NOT binds tighter than AND, AND than OR
        ("(biology OR speech) (chemistry OR efficiency)", True),
        ("(biology OR speech) (chemistry OR physics)", False),
        ("speech --survey", True),
        # lower-case operator words are ordinary terms
        ("speech and synthesis", False),  # "and" does not occur
        ("speech not survey", True),  # "not" occurs in the abstract
        ("speech or synthesis", False),
        # field scopes
        ("title:transformer", True),
        ("title:contrastive", False),
        ("abstract:contrastive", True),
        ("summary:contrastive", True),
        ("abstract:synthesis", False),
        ("title:(synthesis OR biology)", True),
        ("title:(synthesis contrastive)", False),
        ("title:synthesis abstract:contrastive", True),
        ("title:(speech -survey)", True),  # survey only in the abstract
        ("speech -title:survey", True),
        ("author:turing", True),
        ('author:"Alan Turing"', True),
        ('author:"Lovelace Alan"', False),  # a phrase never spans two authors
        ("turing", False),  # default field is title + abstract
        ("category:cs.LG", True),
        ("category:eess", True),
        ("category:cs.AS", False),
        ("feed:arxiv", True),
        ('feed:"arxiv cs"', True),
        ("feed:hf", False),
        ("title:efficien*", False),
        ("abstract:efficien*", True),
    ],
)
def test_matching_rules(query: str, matches: bool) -> None:
    assert (match_one(query) is not None) is matches


@pytest.mark.parametrize(
    ("query", "plural", "snowball"),
    [
        ("transform", False, True),
        ("learned", False, True),
        ("modelling", False, True),
        ("speeches", False, True),
        ("transformer", True, True),
        ('"efficient speech model"', True, True),
        ('"efficiency speech model"', False, True),
        ("efficien*", True, True),
    ],
)
def test_a_topic_may_ask_for_snowball_stemming(query: str, plural: bool, snowball: bool) -> None:
    doc = entry()
    topics = [
        Topic(id="plural", title="t", query=query),
        Topic(id="snowball", title="t", query=query, stemming="snowball"),
    ]
    matcher = Matcher(topics)
    result = matcher.match([doc])[doc.key]
    assert ("plural" in result, "snowball" in result) == (plural, snowball)
    assert matcher.stats.compiled == 2  # one query text, two stemmings: compiled apart


def test_llm_and_llms_are_one_word() -> None:
    docs = [
        entry("a", title="LLMs as judges", abstract="x"),
        entry("b", title="An LLM's view", abstract="x"),
        entry("c", title="LLM-based agents", abstract="x"),
        entry("d", title="Agents", abstract="We prompt llms."),
        entry("e", title="LLM2Vec", abstract="x"),
    ]
    for query in ("LLM", "LLMs", "llms", "LLM's"):
        result = Matcher([Topic(id="t", title="t", query=query)]).match(docs)
        assert {key for key, found in result.items() if found} == {"a", "b", "c", "d"}, query


def test_phrases_fold_plurals_on_both_sides() -> None:
    doc = entry(title="Large Language Models' Reasoning", abstract="x")
    assert match_one('"large language model reasoning"', doc)
    assert match_one("language-models", doc)
    assert not match_one('"large language modeling"', doc)


def test_a_bad_stemming_value_is_refused() -> None:
    with pytest.raises(ValueError, match="stemming must be one of plural, snowball"):
        Matcher([Topic(id="t", title="t", query="x", stemming="porter")])  # type: ignore[arg-type]


def test_unicode_words_match_whatever_their_case_and_composition() -> None:
    doc = entry(title="ΣΥΣΤΗΜΑΤΑ για cafe\u0301 Größe", abstract="日本語の論文")
    assert match_one("συστηματα", doc)
    assert match_one("café", doc)  # composed in the query, decomposed in the title
    assert match_one("GRÖSSE", doc)
    assert match_one("日本語の論文", doc)
    assert not match_one("日本語", doc)  # a run of letters is one token


def test_spans_point_at_the_matched_words() -> None:
    doc = entry()
    m = match_one('"contrastive learning" OR speech OR efficien* OR self-supervised', doc)
    assert m is not None
    assert [doc.title[a:b] for a, b in m.title_spans] == ["Self-Supervised", "Speech"]
    assert [doc.abstract[a:b] for a, b in m.abstract_spans] == [
        "efficient",
        "speech",
        "contrastive learning",
        "efficiency",
    ]
    assert m.terms == (
        "Self-Supervised",
        "Speech",
        "efficient",
        "contrastive learning",
        "efficiency",
    )


def test_overlapping_spans_are_merged_and_negated_words_not_highlighted() -> None:
    doc = entry()
    m = match_one("(text-to-speech OR speech) -biology", doc)
    assert m is not None
    assert [doc.title[a:b] for a, b in m.title_spans] == ["Text-to-Speech"]
    m = match_one("speech NOT (biology efficient)", doc)
    assert m is not None
    assert "efficient" not in m.terms


def test_terms_from_other_fields_are_reported_without_spans() -> None:
    m = match_one("author:turing speech")
    assert m is not None
    assert m.terms == ("Speech", "Turing")
    assert [ABSTRACT[a:b] for a, b in m.abstract_spans] == ["speech"]


def test_terms_are_deduplicated_case_insensitively_first_spelling_wins() -> None:
    doc = entry(title="Speech speech SPEECH", abstract="speech")
    m = match_one("speech", doc)
    assert m is not None
    assert m.terms == ("Speech",)
    assert len(m.title_spans) == 3


def test_title_hits_score_higher_than_abstract_hits() -> None:
    in_title = entry("a", title="Diffusion for audio", abstract="We study audio.")
    in_abstract = entry("b", title="Audio generation", abstract="We study diffusion.")
    result = Matcher([Topic(id="t", title="t", query="diffusion")]).match([in_title, in_abstract])
    assert result["a"]["t"].score > result["b"]["t"].score


def test_more_distinct_matched_terms_score_higher() -> None:
    two = entry("a", title="x", abstract="diffusion models for speech")
    one = entry("b", title="x", abstract="diffusion models for images")
    result = Matcher([Topic(id="t", title="t", query="diffusion OR speech")]).match([two, one])
    assert result["a"]["t"].score > result["b"]["t"].score


def test_repeating_a_word_in_the_abstract_counts_a_little_never_as_much_as_the_title() -> None:
    docs = [
        entry("once", title="x", abstract="speech"),
        entry("often", title="x", abstract="speech " * 20),
        entry("title", title="speech", abstract="x"),
    ]
    result = Matcher([Topic(id="t", title="t", query="speech")]).match(docs)
    once, often, title = (result[k]["t"].score for k in ("once", "often", "title"))
    assert once < often < title


def test_popularity_lifts_the_score_monotonically() -> None:
    docs = [entry(f"p{n}", popularity=n) for n in (None, 0, 1, 10, 500)]
    result = Matcher([Topic(id="t", title="t", query="speech")]).match(docs)
    scores = [result[d.key]["t"].score for d in docs]
    assert scores[0] == scores[1] < scores[2] < scores[3] < scores[4]


def test_shared_query_is_compiled_and_explained_once() -> None:
    topics = [Topic(id=f"sub{i}/speech", title="Speech", query="speech -survey") for i in range(50)]
    topics += [Topic(id=f"sub{i}/tts", title="TTS", query="text-to-speech") for i in range(30)]
    topics.append(Topic(id="other", title="Other", query="biology"))
    docs = [
        entry("a", abstract="speech and more speech"),
        entry("b", abstract="speech"),
        entry("c", title="Biology", abstract="cells"),
    ]
    matcher = Matcher(topics)
    assert matcher.stats.compiled == 3
    result = matcher.match(docs)
    assert matcher.stats.evaluations == 3  # once per distinct query for the whole batch
    # (a, speech), (b, speech), (a, tts), (b, tts), (c, biology): 5, not 50 + 50 + 30 + 30 + 1
    assert matcher.stats.explained == 5
    assert set(result["a"]) == {t.id for t in topics if t.id != "other"}
    assert set(result["c"]) == {"other"}
    assert result["a"]["sub7/speech"].topic_id == "sub7/speech"
    assert result["a"]["sub7/speech"].score == result["a"]["sub0/speech"].score


def test_every_entry_is_in_the_result_even_without_a_match() -> None:
    docs = [entry("a"), entry("b", title="nothing", abstract="here")]
    result = Matcher([Topic(id="t", title="t", query="speech")]).match(docs)
    assert result == {"a": {"t": result["a"]["t"]}, "b": {}}


def test_topics_without_a_query_are_ignored_by_the_keyword_matcher() -> None:
    matcher = Matcher([Topic(id="t", title="t", query=None)])
    assert matcher.match([entry()]) == {"arxiv:1": {}}


def test_same_topic_twice_is_fine_but_an_id_with_two_queries_is_an_error() -> None:
    same = Topic(id="t", title="t", query="speech")
    Matcher([same, same])
    with pytest.raises(ValueError, match="share the id 't'"):
        Matcher([same, Topic(id="t", title="t", query="biology")])
    with pytest.raises(ValueError, match="share the id 't'"):
        Matcher([same, Topic(id="t", title="t", query="speech", stemming="snowball")])


def test_invalid_query_raises_query_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError):
        Matcher([Topic(id="t", title="t", query="speech OR")])


def test_matcher_is_reusable_across_batches() -> None:
    matcher = Matcher([Topic(id="t", title="t", query="speech")])
    assert "t" in matcher.match([entry("a")])["a"]
    assert matcher.match([entry("b", title="x", abstract="y")]) == {"b": {}}
    assert matcher.match([]) == {}
