"""Table tests for every syntax rule of the topic language, and for its error messages."""

from __future__ import annotations

import pytest

from newsletter.match import (
    And,
    Field,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    QuerySyntaxError,
    Term,
    parse,
    unparse,
)

T = Term


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        # terms, case kept as written (matching folds it)
        ("transformer", T("transformer")),
        ("Transformers", T("Transformers")),
        ("diffusion,", T("diffusion")),
        # juxtaposition is AND
        ("speech synthesis", And((T("speech"), T("synthesis")))),
        ("speech AND synthesis", And((T("speech"), T("synthesis")))),
        # operators are upper case only: lower-case and/or/not are terms
        ("speech and synthesis", And((T("speech"), T("and"), T("synthesis")))),
        ("rock or roll", And((T("rock"), T("or"), T("roll")))),
        ("not bad", And((T("not"), T("bad")))),
        ('"AND" gate', And((T("AND"), T("gate")))),
        # hyphens, dots and other separators inside a word make a phrase
        ("self-supervised", Phrase(("self", "supervised"))),
        ("text-to-speech", Phrase(("text", "to", "speech"))),
        ("cs.LG", Phrase(("cs", "LG"))),
        # quoted phrases; a quoted single word is a term
        ('"contrastive learning"', Phrase(("contrastive", "learning"))),
        ('"diffusion"', T("diffusion")),
        ('"efficien*"', T("efficien")),
        # prefix
        ("efficien*", Prefix("efficien")),
        ("GPT4*", Prefix("GPT4")),
        # precedence: NOT > AND > OR
        ("a b OR c", Or((And((T("a"), T("b"))), T("c")))),
        ("a OR b c", Or((T("a"), And((T("b"), T("c")))))),
        ("a OR b AND c OR d", Or((T("a"), And((T("b"), T("c"))), T("d")))),
        ("a NOT b", And((T("a"), Not(T("b"))))),
        ("a -b", And((T("a"), Not(T("b"))))),
        ("a AND NOT b OR c", Or((And((T("a"), Not(T("b")))), T("c")))),
        ("a NOT b OR c", Or((And((T("a"), Not(T("b")))), T("c")))),
        ("NOT b a", And((Not(T("b")), T("a")))),
        ("a NOT (b OR c)", And((T("a"), Not(Or((T("b"), T("c"))))))),
        ("a -(b c)", And((T("a"), Not(And((T("b"), T("c"))))))),
        ("a --b", And((T("a"), Not(Not(T("b")))))),
        ("--a", Not(Not(T("a")))),
        ('a -"b c"', And((T("a"), Not(Phrase(("b", "c")))))),
        # nested groups are kept as written
        ("(a OR b) c", And((Or((T("a"), T("b"))), T("c")))),
        ("((a))", T("a")),
        ("(a (b OR (c d)))", And((T("a"), Or((T("b"), And((T("c"), T("d")))))))),
        ("(a b) c", And((And((T("a"), T("b"))), T("c")))),
        # fields
        ("title:diffusion", Field("title", T("diffusion"))),
        ("TITLE:diffusion", Field("title", T("diffusion"))),
        ("summary:speech", Field("abstract", T("speech"))),
        ("abstract:speech", Field("abstract", T("speech"))),
        ('author:"Yann LeCun"', Field("author", Phrase(("Yann", "LeCun")))),
        ("category:cs.LG", Field("category", Phrase(("cs", "LG")))),
        ("feed:arxiv", Field("feed", T("arxiv"))),
        ("title:efficien*", Field("title", Prefix("efficien"))),
        ("title:text-to-speech", Field("title", Phrase(("text", "to", "speech")))),
        ("title:AND", Field("title", T("AND"))),
        (
            "title:(diffusion OR generation)",
            Field("title", Or((T("diffusion"), T("generation")))),
        ),
        ("title:(a -b)", Field("title", And((T("a"), Not(T("b")))))),
        ("x -title:survey", And((T("x"), Not(Field("title", T("survey")))))),
        (
            "(title:a OR author:b) c",
            And((Or((Field("title", T("a")), Field("author", T("b")))), T("c"))),
        ),
        # Unicode words
        ("ΑΘΗΝΑ naïve", And((T("ΑΘΗΝΑ"), T("naïve")))),
        ("日本語", T("日本語")),
        # whitespace of any kind
        ("\ta\n  OR\r\nb ", Or((T("a"), T("b")))),
    ],
)
def test_parse(query: str, tree: Node) -> None:
    assert parse(query) == tree
    assert parse(unparse(tree)) == tree


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("a (b", 2, "unclosed '('"),
        ("(a (b) c", 0, "unclosed '('"),
        ("a)", 1, "unmatched ')'"),
        ("a () b", 2, "empty parentheses"),
        ('a "b c', 2, "unterminated quote"),
        ('""', 0, "empty phrase"),
        ('x " "', 2, "empty phrase"),
        ("AND x", 0, "AND needs a word"),
        ("x OR", 4, "after OR, found the end"),
        ("x AND OR y", 6, "after AND, found 'OR'"),
        ("x NOT", 5, "after NOT"),
        ("(x OR)", 5, "after OR, found ')'"),
        ("a - b", 2, "'-' must be directly followed"),
        ("a -", 2, "'-' must be directly followed"),
        ("+++", 0, "no letters or digits"),
        ("a *", 2, "prefix search is one word"),
        ("ef*ic", 2, "'*' can only end a word"),
        ("efficien**", 8, "'*' can only end a word"),
        ("self-sup*", 0, "prefix search is one word"),
        ("foo:bar", 0, "unknown field 'foo:'"),
        ("x titel:diffusion", 2, "unknown field 'titel:'"),
        ("title: x", 6, "right after 'title:'"),
        ("title:", 6, "right after 'title:'"),
        ("title:-x", 6, "put the minus before the field"),
        ("title:author:x", 6, "cannot be nested"),
        ("title:(a author:x)", 9, "cannot be nested"),
        # negation alone: the caret points at the first NOT
        ("NOT speech", 0, "lack alone"),
        ("-speech", 0, "lack alone"),
        ("a OR NOT b", 5, "lack alone"),
        ("-a -b", 0, "lack alone"),
        ("x OR -(a b)", 5, "lack alone"),
        ("NOT (a b)", 0, "lack alone"),
        ("title:(NOT a)", 7, "lack alone"),
        ("NOT NOT NOT a", 0, "lack alone"),
        ("(" * 60 + "a" + ")" * 60, 40, "nested more than"),
    ],
)
def test_syntax_errors_name_the_column(query: str, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    error = info.value
    assert fragment in error.message
    assert error.column == column
    assert error.query == query
    assert f"(column {column + 1})" in str(error)


@pytest.mark.parametrize(
    "query", ["a NOT b", "NOT NOT a", "a (b OR NOT c)", "(a OR b) -c", "-(NOT a)"]
)
def test_negation_with_a_required_word_is_fine(query: str) -> None:
    parse(query)


def test_caret_sits_under_the_offending_column() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("speech OR (synthesis")
    assert info.value.caret() == "speech OR (synthesis\n          ^"


def test_caret_on_a_multiline_query_shows_only_that_line() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("speech OR\n  synthesis AND")
    assert info.value.caret() == "  synthesis AND\n               ^"


def test_caret_accounts_for_wide_characters() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("日本 OR")
    # two wide characters take four cells, then the space and "OR" take three
    assert info.value.caret() == "日本 OR\n       ^"


def test_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unclosed"):
        parse("(a")


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (Or((And((T("a"), T("b"))), T("c"))), "a b OR c"),
        (And((Or((T("a"), T("b"))), T("c"))), "(a OR b) c"),
        (Or((Or((T("a"), T("b"))), T("c"))), "(a OR b) OR c"),
        (And((T("a"), Not(Or((T("b"), T("c")))))), "a NOT (b OR c)"),
        (Field("title", Or((T("a"), T("b")))), "title:(a OR b)"),
        (Field("abstract", Not(T("a"))), "abstract:(NOT a)"),
        (Phrase(("text", "to", "speech"), raw="text-to-speech"), '"text-to-speech"'),
        (Phrase(("a", "b")), '"a b"'),
        (T("OR"), '"OR"'),
        (Prefix("efficien"), "efficien*"),
    ],
)
def test_unparse_prints_minimal_parentheses(tree: Node, text: str) -> None:
    assert unparse(tree) == text
