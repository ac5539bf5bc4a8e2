"""Author strings as people (issue 13): one name per person, never half a name."""

from __future__ import annotations

import pytest

from newsletter.sources.authors import people


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (
            "Alexandre Benoist (LORIA, CNRS), Jean Kieffer (LORIA, CNRS)",
            ("Alexandre Benoist", "Jean Kieffer"),
        ),
        ("Ana Lima, Bo Chen and Carla Díaz", ("Ana Lima", "Bo Chen", "Carla Díaz")),
        ("Ana Lima, Bo Chen, and Carla Díaz", ("Ana Lima", "Bo Chen", "Carla Díaz")),
        ("Ana Lima and Bo Chen", ("Ana Lima", "Bo Chen")),
        ("Ana Lima; Bo Chen", ("Ana Lima", "Bo Chen")),
        ("Wei Zhang, Wei Zhang, Li Na", ("Wei Zhang", "Wei Zhang", "Li Na")),
        ("Shyam Narayanan", ("Shyam Narayanan",)),
        ("Mohammad, Ana Lima", ("Mohammad", "Ana Lima")),  # one-word names exist
        ("John Smith, Jr., Alice Doe", ("John Smith, Jr.", "Alice Doe")),
        ("A. Lee (Dept. of A and B, Univ. X), B. Kim", ("A. Lee", "B. Kim")),
        ("ATLAS Collaboration", ("ATLAS Collaboration",)),
    ],
)
def test_arxiv_author_lists(raw: str, names: tuple[str, ...]) -> None:
    assert people(raw, arxiv=True) == names


def test_arxiv_names_written_in_tex() -> None:
    raw = r"R\'emi Mart\'inez, Erwin Schr\"odinger, Kurt G\"{o}del"
    assert people(raw, arxiv=True, tex=True) == ("Rémi Martínez", "Erwin Schrödinger", "Kurt Gödel")


def test_commas_inside_math_do_not_split() -> None:
    assert people(r"A. Smith$^{1,2}$, B. Jones$^{2}$", arxiv=True, tex=True) == (
        "A. Smith^1,2",
        "B. Jones^2",
    )


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("LAPALU, N., SIMON, A., DUPONT, J.", ("N. Lapalu", "A. Simon", "J. Dupont")),
        ("Kaur, M., Shukla, A.", ("M. Kaur", "A. Shukla")),
        ("O'BRIEN, P.-J., SMITH-JONES, K. L.", ("P.-J. O'Brien", "K. L. Smith-Jones")),
        ("Zhang, a., jiang, x.", ("A. Zhang", "X. jiang")),
        ("Van Wees, S. C. M., Pieterse, C. M. J.", ("S. C. M. Van Wees", "C. M. J. Pieterse")),
    ],
)
def test_surname_initials_pairs_are_one_person_each(raw: str, names: tuple[str, ...]) -> None:
    assert people(raw) == names


@pytest.mark.parametrize(
    "raw",
    [
        "Smith, John",  # one person written surname-first, or two people? Not split.
        "Alice (MIT, Bob",  # unbalanced: no safe place to cut
        "Example Lab",
        "LAPALU, N., SIMON",  # an odd number of parts is no list of pairs
    ],
)
def test_what_cannot_be_read_with_confidence_stays_whole(raw: str) -> None:
    assert people(raw) == (raw,)


def test_generic_lists_of_full_names_are_split() -> None:
    assert people("A. One, B. Two and C. Three") == ("A. One", "B. Two", "C. Three")


def test_names_are_clean_single_lines() -> None:
    assert people("Ana\u202e Lima,\n Bo\u200b Chen", arxiv=True) == ("Ana Lima", "Bo Chen")
    assert people("") == () and people("  ") == ()
