"""Word folding: plural-only by default (Lucene's EnglishMinimalStemmer rules), possessives
dropped, Snowball on request; the same reduction for query words and text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.match import tokenize
from newsletter.match.folding import (
    STEMMINGS,
    fold,
    plural_key,
    reduce,
    singular,
    snowball_key,
)


@pytest.mark.parametrize(
    ("word", "key"),
    [
        # shorter than 3 letters, or no final s: kept
        ("as", "as"),
        ("is", "is"),
        ("graph", "graph"),
        ("sequencing", "sequencing"),
        # ...us and ...ss: kept
        ("corpus", "corpus"),
        ("loss", "loss"),
        ("class", "class"),
        # ...ies after anything but a or e: ...y
        ("studies", "study"),
        ("queries", "query"),
        ("ties", "ty"),
        # ...aies, ...eies and a bare "ies": kept
        ("ies", "ies"),
        ("aies", "aies"),
        ("eies", "eies"),
        # ...aes, ...ees, ...oes: kept
        ("aes", "aes"),
        ("trees", "trees"),
        ("goes", "goes"),
        # any other final s: dropped
        ("transformers", "transformer"),
        ("llms", "llm"),
        ("gans", "gan"),
        ("days", "day"),
        ("classes", "classe"),  # -es after a sibilant is not undone
        ("speeches", "speeche"),
        ("matrices", "matrice"),  # irregular plurals are not folded
        ("news", "new"),  # the known collisions
        ("gas", "ga"),
    ],
)
def test_singular_follows_the_minimal_english_plural_rules(word: str, key: str) -> None:
    assert singular(word) == key


LOWER = st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), max_size=12)


@given(LOWER.filter(lambda w: len(w) >= 2 and w[-1] not in "use"))
def test_a_regular_plural_folds_to_its_singular(word: str) -> None:
    assert singular(word + "s") == singular(word) == word


@given(LOWER.filter(lambda w: len(w) >= 1 and w[-1] not in "ae"))
def test_consonant_y_plurals_fold_to_y(base: str) -> None:
    assert singular(base + "ies") == base + "y"


@given(LOWER.filter(lambda w: not w.endswith("s")))
def test_a_word_without_a_final_s_is_never_changed(word: str) -> None:
    assert singular(word) == word


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("transformer", "transform"),
        ("generation", "generative"),
        ("sequencing", "sequence"),
        ("reasoning", "reasonable"),
        ("learning", "learned"),
        ("efficiency", "efficient"),
        ("modelling", "model"),
    ],
)
def test_no_derivational_stemming_by_default(a: str, b: str) -> None:
    assert plural_key(a) != plural_key(b)
    assert snowball_key(a) == snowball_key(b)  # what `stemming: snowball` keeps


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Transformers", "transformer"),
        ("LLMs", "LLM"),
        ("GANs", "gan"),
        ("Studies", "STUDY"),
        ("LLM's", "llm"),
        ("LLMs'", "LLM"),  # a trailing apostrophe separates anyway
        ("Model\u2019s", "models"),
        ("Résumés", "re\u0301sume\u0301".upper()),
        ("STRASSE", "straße"),
    ],
)
def test_case_possessives_and_plurals_fold_to_the_same_key(a: str, b: str) -> None:
    (token_a,) = tokenize(a)
    (token_b,) = tokenize(b)
    assert token_a.stem == token_b.stem == plural_key(token_a.text) == plural_key(token_b.text)


def test_possessive_stays_in_the_token_text_and_out_of_the_key() -> None:
    text = "The LLM's answers, O'sullivan's and Ross' views"
    tokens = tokenize(text)
    assert [t.text for t in tokens] == [
        "The",
        "LLM's",
        "answers",
        "O",
        "sullivan's",
        "and",
        "Ross",
        "views",
    ]
    assert [t.stem for t in tokens] == [
        "the",
        "llm",
        "answer",
        "o",
        "sullivan",
        "and",
        "ross",
        "view",
    ]
    for token in tokens:
        assert text[token.start : token.end] == token.text


def test_fold_never_empties_a_word() -> None:
    assert fold("'s") == "'s"
    assert fold("s's") == "s"


def test_snowball_keeps_the_old_behaviour_of_llms() -> None:
    assert snowball_key("LLMs") != snowball_key("LLM")  # why the plural folding is the default
    assert plural_key("LLMs") == plural_key("LLM")


@pytest.mark.parametrize("stemming", STEMMINGS)
def test_reduce_dispatches_on_the_stemming(stemming: str) -> None:
    want = plural_key("Transformers") if stemming == "plural" else snowball_key("Transformers")
    assert reduce("Transformers", stemming) == want  # type: ignore[arg-type]


def test_snowball_from_many_threads_at_once_agrees_with_one_thread() -> None:
    """A shared Snowball stemmer corrupts its state under threads; ours is per thread."""
    words = [
        f"{base}{suffix}{n}"
        for n in range(300)
        for base in ("learn", "transform", "gener")
        for suffix in ("ing", "ers", "ation")
    ]
    snowball_key.cache_clear()
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(snowball_key, words * 4))
    snowball_key.cache_clear()
    assert parallel == [snowball_key(w) for w in words * 4]


def _folding_table() -> list[tuple[list[str], list[str], list[str]]]:
    """The examples table under "## Word folding" in docs/matching.md."""
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "matching.md"
    section = doc.read_text(encoding="utf-8").split("## Word folding", 1)[1]
    table = next(block for block in section.split("\n\n") if block.startswith("| query"))
    rows = []
    for line in table.splitlines()[2:]:
        query, matches, misses = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append(
            (
                [q.strip("`") for q in query.split(" or ")],
                [w.strip() for w in matches.split(",")],
                [w.strip() for w in misses.split(",")],
            )
        )
    return rows


def test_the_documented_examples_hold() -> None:
    rows = _folding_table()
    assert len(rows) >= 5
    for queries, matches, misses in rows:
        for query in queries:
            (token,) = tokenize(query)
            for word in matches:
                assert [t.stem for t in tokenize(word)] == [token.stem], (query, word)
            for word in misses:
                assert [t.stem for t in tokenize(word)] != [token.stem], (query, word)
