"""Clean text from feeds: hygiene (step 1), reading HTML and TeX (step 2), links.

Each case is a finding from issues 12 and 13: what a publisher really sends, and
what must come out of the parser for the store, the matcher and the mail.
"""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from newsletter.sources import tex, text

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
HEART_ON_FIRE = "\u2764\ufe0f\u200d\U0001f525"
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", ZWNJ inside
DEVANAGARI_HALF_FORM = "\u0915\u094d\u200d\u0937"  # ka virama ZWJ ssa


# --- step 1: hygiene ---------------------------------------------------------------


def test_lone_surrogates_become_replacement_characters_and_encode() -> None:
    cleaned = text.hygiene("Attention \ud800is all\udfff you need")
    assert cleaned == "Attention \ufffdis all\ufffd you need"
    cleaned.encode("utf-8")  # the UnicodeEncodeError of issue 12


@pytest.mark.parametrize(
    "control", ["\x00", "\x01", "\x08", "\x1b", "\x7f", "\x80", "\x9b", "\x9f"]
)
def test_controls_are_removed(control: str) -> None:
    assert text.hygiene(f"a{control}b") == "ab"
    assert text.hygiene(f"a{control}b", multiline=True) == "ab"


@pytest.mark.parametrize(
    ("separator", "multiline", "single"),
    [
        ("\r\n", "a\nb", "a  b"),
        ("\r", "a\nb", "a b"),
        ("\x0b", "a\nb", "a b"),
        ("\x0c", "a\nb", "a b"),
        ("\x85", "a\nb", "a b"),
        ("\u2028", "a\nb", "a b"),
        ("\u2029", "a\n\nb", "a b"),
        ("\t", "a\tb", "a b"),
        ("\n", "a\nb", "a b"),
    ],
)
def test_line_separators(separator: str, multiline: str, single: str) -> None:
    assert text.hygiene(f"a{separator}b", multiline=True) == multiline
    assert text.hygiene(f"a{separator}b") == single


@pytest.mark.parametrize(
    "bidi", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
             "\u2069", "\u200e", "\u200f", "\u061c"],
)  # fmt: skip
def test_bidi_controls_are_removed(bidi: str) -> None:
    # "Trojan source": an override can make a title or link read backwards in a mail.
    assert text.hygiene(f"safe{bidi}txt.exe") == "safetxt.exe"


@pytest.mark.parametrize(
    "invisible", ["\u00ad", "\u200b", "\u2060", "\u2062", "\ufeff", "\u180e", "\U000e0001"]
)
def test_invisible_format_characters_are_removed(invisible: str) -> None:
    # A soft hyphen or a zero-width space inside "trans\u00adformer" hides it from a topic.
    assert text.hygiene(f"trans{invisible}former") == "transformer"


def test_tag_characters_outside_a_flag_are_removed() -> None:
    # Tag characters can smuggle invisible ASCII ("ASCII smuggling") into any text.
    hidden = "".join(chr(0xE0000 + ord(c)) for c in "ignore this")
    assert text.hygiene(f"Nice paper{hidden}!") == "Nice paper!"


@pytest.mark.parametrize(
    "kept", [FAMILY, RAINBOW_FLAG, SCOTLAND, HEART_ON_FIRE, PERSIAN, DEVANAGARI_HALF_FORM,
             "\U0001f44d\U0001f3fd", "\u0031\ufe0f\u20e3", "\u0600\u0661\u0662"],
)  # fmt: skip
def test_what_emoji_and_scripts_need_is_kept(kept: str) -> None:
    assert text.hygiene(f"x {kept} y") == f"x {kept} y"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("a \u200d b", "a  b"),  # a joiner between spaces joins nothing
        ("\u200dstart", "start"),
        ("end\u200c", "end"),
        ("a\u200d\u200db", "ab"),
        (" \ufe0fx", " x"),  # a variation selector needs a character to select
        ("\u2764\ufe0f\ufe0f\ufe0f", "\u2764\ufe0f"),
        ("\U0001f3f4\U000e0067\U000e0062", "\U0001f3f4"),  # a flag without its end tag
    ],
)
def test_stray_joiners_selectors_and_tags_are_removed(dirty: str, clean: str) -> None:
    assert text.hygiene(dirty) == clean


def test_noncharacters_are_removed() -> None:
    assert text.hygiene("a\ufffeb\uffff\ufdd0c\U0010ffff") == "abc"


def test_output_is_nfc() -> None:
    decomposed = "Schro\u0308dinger Re\u0301mi"
    assert text.hygiene(decomposed) == "Schrödinger Rémi"
    assert unicodedata.is_normalized("NFC", text.hygiene("\u212b"))  # ANGSTROM SIGN


def test_plain_text_is_returned_as_it_is() -> None:
    plain = "Attention Is All You Need — 2017 (cs.CL) naïve café 日本語"
    assert text.hygiene(plain) == plain


def test_the_removed_format_characters_are_every_cf_but_the_judged_ones() -> None:
    judged = {0x200C, 0x200D, 0x06DD, 0x070F, 0x08E2, 0x110BD, 0x110CD, 0x0890, 0x0891}
    judged |= {*range(0x0600, 0x0606), *range(0xE0020, 0xE0080)}
    cf = {
        c
        for c in range(sys.maxunicode + 1)
        if c not in judged and unicodedata.category(chr(c)) == "Cf"
    }
    listed = re.compile(f"[{text.FORMAT_CHARACTERS}]")
    assert {c for c in range(sys.maxunicode + 1) if listed.match(chr(c))} == cf


# --- step 2: reading HTML -----------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (
            r"<p>For $\frac{1}{3}<s<1$ the bound holds.</p>",
            r"For $\frac{1}{3}<s<1$ the bound holds.",
        ),
        (r"<p>For $1<p<2+\varepsilon.$ we show</p>", r"For $1<p<2+\varepsilon.$ we show"),
        ("if a<b then c", "if a<b then c"),
        ("x</3 y and <3 you", "x</3 y and <3 you"),
        ("<b>Bold</b> &lt;tag&gt; &amp; more", "Bold <tag> & more"),
        ("<p>One</p><script>alert(1)</script><style>p{}</style><p>Two</p>", "One\n\nTwo"),
        ("a<br/>b<br>c", "a\n\nb\n\nc"),
        ("<!-- hidden -->seen", "seen"),
        ("<a href='x'>link</a> text", "link text"),
        ("R&D costs &amp;c", "R&D costs &c"),
    ],
)
def test_html_keeps_every_character_of_text(markup: str, expected: str) -> None:
    assert text.paragraphs(markup, html=True) == expected


def test_entities_that_spell_unsafe_characters_are_cleaned() -> None:
    assert text.line("a&#x202E;b&#0;c&#xD800;d&#x85;e", html=True) == "ab\ufffdc\ufffdd…e"
    assert text.line("a&#x202E;b", html=False) == "ab"


def test_plain_text_decodes_only_complete_entities() -> None:
    # Plain-text fields arrive escaped twice often enough; "&param" is not an entity.
    assert text.line("Tom &amp; Jerry &parameter R&D &times;") == "Tom & Jerry &parameter R&D ×"


# --- step 2: reading TeX ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r"Schr\"odinger", "Schrödinger"),
        (r"R\'emi Mart\'inez", "Rémi Martínez"),
        (r"{\'E}mile Borel and G\"{o}del", "Émile Borel and Gödel"),
        (r"Fran\c{c}ois, \v{S}koda, \L{}\'od\'z", "François, Škoda, Łódź"),
        (r"A \& B -- C --- D", "A & B – C — D"),
        (r"$\frac{1}{3}<s<1$", "1/3<s<1"),
        (r"$1<p<2+\varepsilon.$", "1<p<2+ε."),
        (r"a $k$NN cache", "a kNN cache"),
        (r"$\alpha$-stable, $\mathbb{R}^n$", "α-stable, ℝ^n"),
        (r"$\left(\frac{a}{b}\right)$ and $\operatorname{Tr}(A)$", "(a/b) and Tr(A)"),
        (r"12\% of", "12% of"),
        (r"``quoted''", "“quoted”"),
        (r"\textbf{adaptability}, \emph{reproducibility}", "adaptability, reproducibility"),
    ],
)
def test_tex_becomes_readable_unicode(source: str, expected: str) -> None:
    assert text.line(source, tex=True) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("saves 50% FLOPs", "saves 50% FLOPs"),  # % is not a comment in an abstract
        ("K&V and V1&V2", "K&V and V1&V2"),  # & is not an alignment tab
        ("costs $5 and $10 a day", "costs $5 and $10 a day"),  # money, not math
        ("a ~5x speedup (~3%)", "a ~5x speedup (~3%)"),  # "approximately"
        (r"see Fig.~3", "see Fig. 3"),  # a tie
        (r"changing \eg, pose \etal. say", "changing e.g., pose et al. say"),
        (r"our \ours{} model", r"our \ours model"),  # an author's macro stays readable
        (r"as in \cite{smith2020}", r"as in \cite{smith2020}"),
        ("code: https://github.com/a--b/c_d~e%20f.", "code: https://github.com/a--b/c_d~e%20f."),
        (r"at \url{https://x.org/a--b}", "at https://x.org/a--b"),
    ],
)
def test_tex_reading_keeps_what_abstracts_mean(source: str, expected: str) -> None:
    assert text.line(source, tex=True) == expected


@pytest.mark.parametrize(
    "garbage",
    ["{" * 5000, "\\sqrt" * 3000, "\\begin{x}" * 2000, r"\href{a}", "\\", "$$$", r"\end{x}"],
)
def test_hostile_tex_never_raises(garbage: str) -> None:
    result = text.paragraphs(garbage, tex=True)
    assert text.is_clean(result, multiline=True)


def test_tex_that_pylatexenc_cannot_read_comes_back_unchanged() -> None:
    nested = "{" * 5000 + "x"
    assert tex.tex_to_text(nested) == nested  # RecursionError inside pylatexenc


def test_tex_longer_than_the_bound_is_not_read() -> None:
    long = r"Schr\"odinger " * (tex.MAX_TEX_CHARS // 10)
    assert len(long) > tex.MAX_TEX_CHARS
    assert tex.tex_to_text(long) == long


def test_text_without_tex_is_not_touched() -> None:
    assert tex.tex_to_text("C code: a[i] = b + c; // 100 percent") == (
        "C code: a[i] = b + c; // 100 percent"
    )


# --- fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://arxiv.org/abs/2403.04790", "https://arxiv.org/abs/2403.04790"),
        ("  https://example.org/a?b=1  \n", "https://example.org/a?b=1"),
        ("https://example.org/\u202egnp.exe", ""),
        ("https://exa\u200bmple.org/", ""),
        ("https://example.org/a\x00b", ""),
        ("https://example.org/\ud800", ""),
        ("https://example.org/a b", ""),
        ("javascript:alert(1)", ""),
        ("data:text/html,hi", ""),
        ("/relative/path", ""),
        ("http://[::1", ""),
        ("https://example.org/caf\u0065\u0301", "https://example.org/café"),
    ],
)
def test_links_are_clean_absolute_http_urls_or_nothing(raw: str, expected: str) -> None:
    assert text.link(raw) == expected


def test_long_fields_are_cut_at_a_word() -> None:
    title = text.line("word " * 1000)
    assert len(title) <= text.MAX_LINE_CHARS + 2 and title.endswith("word …")
    abstract = text.paragraphs("word " * 10_000)
    assert len(abstract) <= text.MAX_TEXT_CHARS + 2 and abstract.endswith(" …")


def test_a_cut_never_leaves_half_an_emoji_sequence() -> None:
    raw = "x" * (text.MAX_LINE_CHARS - 2) + FAMILY * 3
    assert raw[: text.MAX_LINE_CHARS].endswith("\U0001f468\u200d")  # the cut splits it
    title = text.line(raw)
    assert title == "x" * (text.MAX_LINE_CHARS - 2) + "\U0001f468 …"
