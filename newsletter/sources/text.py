"""Clean text from feeds, in two named steps: hygiene, then reading.

Everything a parser hands on — titles, abstracts, names, categories, guids, links —
goes through here, so the store, the matcher and every template see the same clean
text and no publisher's bytes can crash a later stage or hide in a mail.

1. :func:`hygiene` makes a string safe to keep: lone surrogates, control characters,
   bidi controls and invisible format characters go, line separators become
   newlines (or spaces on one-line fields), the result is NFC. It keeps what emoji
   sequences need (see ``docs/feeds.md``, "Text").
2. :func:`read` turns what the publisher wrote into plain text: HTML through a real
   HTML parser (a ``<`` that opens no tag stays text), entities decoded, TeX through
   :mod:`newsletter.sources.tex` where the source writes TeX, whitespace tidied. It
   ends with hygiene again, because an entity or a TeX macro can spell any character.

:func:`line`, :func:`paragraphs` and :func:`link` run both steps for one field.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

from newsletter.sources.tex import tex_to_text

MAX_LINE_CHARS = 2_000
"""One-line fields (titles, names) longer than this are cut: anything longer is junk."""
MAX_TEXT_CHARS = 20_000
"""Blog feeds may put whole articles in their summaries; an abstract is kept short."""

# ---------------------------------------------------------------------------------------
# Step 1: hygiene


_FORMAT_BMP = (
    "\u00ad\u061c\u180e\u200b\u200e-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb"
)
_FORMAT_ASTRAL = "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
FORMAT_CHARACTERS = _FORMAT_BMP + _FORMAT_ASTRAL
"""Every format character (category Cf, Unicode 14) that hygiene removes outright,
as a regex class body: soft hyphen, zero-width space, word joiner, BOM, bidi marks,
embeddings, overrides and isolates, invisible math operators, annotation and shorthand
format controls, the language tag.

Judged apart: ZWNJ/ZWJ (kept between letters, marks, digits or symbols), tag characters
(kept in a flag sequence) and the prepended concatenation marks such as U+0600 ARABIC
NUMBER SIGN, which are visible signs, not invisible controls. A test checks this list
against the running Python's Unicode database."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(chr(p * 0x10000 + 0xFFFE) + chr(p * 0x10000 + 0xFFFF) for p in range(17))
    + "]"
)
_PARAGRAPH_SEPARATOR = re.compile("\u2029")
_LINE_BREAK = re.compile("\r\n|[\r\x0b\x0c\x85\u2028]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_ONE_LINE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FORMAT = re.compile(f"[{FORMAT_CHARACTERS}]")
_FLAG_OR_TAG = re.compile("(\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f)|[\U000e0020-\U000e007f]")
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_JOINER = re.compile("[\u200c\u200d]")
_SPECIAL_BMP = (
    "\x7f-\x9f\u2028\u2029\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\u200c\u200d\ufe00-\ufe0f"
    + _FORMAT_BMP
    + "]"
)
_NEEDS_WORK = {
    True: re.compile("[\x00-\x08\x0b-\x1f" + _SPECIAL_BMP),
    False: re.compile("[\x00-\x1f" + _SPECIAL_BMP),
}
"""Characters of the BMP that hygiene changes, by ``multiline``: most text has none.
(One class of BMP ranges is searched about ten times faster than one with astral ones.)"""
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_SPECIAL = re.compile(
    "[\U000e0000-\U000e01ef"
    + "".join(chr(p * 0x10000 + 0xFFFE) + chr(p * 0x10000 + 0xFFFF) for p in range(1, 17))
    + _FORMAT_ASTRAL
    + "]"
)
_SPACE_LIKE = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")
_NOT_A_BASE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
_JOINABLE_SYMBOLS = frozenset({"So", "Sk"})


def hygiene(text: str, *, multiline: bool = False) -> str:
    """Step 1: ``text`` without anything unsafe or invisible, in NFC.

    Lone surrogates become U+FFFD. Line breaks (CR, LF, VT, FF, NEL, U+2028) become
    ``\\n`` and U+2029 a blank line when ``multiline``, spaces otherwise; tab stays only
    when ``multiline``. Other C0/C1 controls, noncharacters, bidi controls and Cf
    format characters are removed, except a ZWJ/ZWNJ between two letters, digits,
    marks or symbols (emoji sequences, Persian and Indic spelling) and tag characters
    that form a flag. A variation selector stays only right after a visible character.
    Idempotent: ``hygiene(hygiene(s)) == hygiene(s)``.
    """
    if not _needs_work(text, multiline=multiline):
        return text if text.isascii() else unicodedata.normalize("NFC", text)
    text = _SURROGATE.sub("\ufffd", text)
    if multiline:
        text = _PARAGRAPH_SEPARATOR.sub("\n\n", _LINE_BREAK.sub("\n", text))
        text = _CONTROL.sub("", text)
    else:
        text = _ONE_LINE_CONTROL.sub(lambda m: " " if m[0] in _SPACE_LIKE else "", text)
    text = _NONCHARACTER.sub("", _FORMAT.sub("", text))
    text = _FLAG_OR_TAG.sub(lambda m: m[1] or "", text)
    text = _keep_attached(text, _VARIATION_SELECTOR, _follows_a_base)
    text = _keep_attached(text, _JOINER, _joins)
    return unicodedata.normalize("NFC", text)


def _needs_work(text: str, *, multiline: bool) -> bool:
    if _NEEDS_WORK[multiline].search(text):
        return True
    return not text.isascii() and bool(_ASTRAL.search(text)) and bool(_ASTRAL_SPECIAL.search(text))


def _follows_a_base(text: str, at: int) -> bool:
    if at == 0:
        return False
    before = text[at - 1]
    return unicodedata.category(before) not in _NOT_A_BASE and not _VARIATION_SELECTOR.match(before)


def _joins(text: str, at: int) -> bool:
    if at == 0 or at + 1 >= len(text):
        return False
    return _joinable(text[at - 1]) and _joinable(text[at + 1])


def _joinable(char: str) -> bool:
    """Letters, marks, digits and symbols (emoji, skin tones) may sit beside a joiner."""
    category = unicodedata.category(char)
    return category[0] in "LMN" or category in _JOINABLE_SYMBOLS


def _keep_attached(text: str, pattern: re.Pattern[str], keep: Callable[[str, int], bool]) -> str:
    """``text`` without the ``pattern`` characters for which ``keep(text, at)`` is false."""
    if not pattern.search(text):
        return text
    drop = [m.start() for m in pattern.finditer(text) if not keep(text, m.start())]
    if not drop:
        return text
    starts = [0, *(at + 1 for at in drop)]
    ends = [*drop, len(text)]
    return "".join(text[start:end] for start, end in zip(starts, ends, strict=True))


# ---------------------------------------------------------------------------------------
# Step 2: reading

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "table", "tr", "section", "article", "hr", "dd", "dt",
        "figure", "figcaption", "header", "footer", "aside", "details", "summary",
        "caption", "main", "nav", "dl", "address",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_MARKUP = r"/?[A-Za-z][A-Za-z0-9:-]*(?:[\s/][^<>]*)?>|!--|![A-Za-z\[][^<>]*>|\?[^<>]*>"
_BARE_LT = re.compile(rf"<(?!{_MARKUP})")
"""A ``<`` that starts no complete tag, comment or declaration: text (``1<p<2``)."""
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BLANK_LINES = re.compile(r"\n\s*\n")
_WHITESPACE = re.compile(r"\s")


class _TextExtractor(HTMLParser):
    """Collects character data; block elements become paragraph breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The text of an HTML fragment, block elements as blank lines (not yet tidied).

    Python's HTML parser follows HTML5, where ``<s<1`` would open an ``s`` tag and
    swallow the text after it; a ``<`` that starts no complete tag is therefore
    escaped first, so ``$\\frac{1}{3}<s<1$`` keeps ``<s<1``.
    """
    if "<" not in markup and "&" not in markup:
        return markup
    parser = _TextExtractor()
    parser.feed(_BARE_LT.sub("&lt;", markup))
    parser.close()
    return "".join(parser.parts)


def has_markup(text: str) -> bool:
    """True when ``text`` holds an HTML tag (``<a href="…">``, ``</p>``)."""
    return "<" in text and _TAG.search(text) is not None


def decode_entities(text: str) -> str:
    """Complete character references (``&amp;``, ``&#233;``) decoded; ``R&D`` left alone.

    Plain-text fields often arrive escaped twice. Only references with their ``;``
    are read: ``html.unescape`` alone would turn ``&parameter`` into ``¶meter``.
    """
    if "&" not in text:
        return text
    return _ENTITY.sub(lambda m: html.unescape(m[0]), text)


def read(text: str, *, html: bool = False, tex: bool = False, multiline: bool = False) -> str:
    """Step 2: plain, tidy text from what the publisher wrote.

    ``html``: the field is HTML. ``tex``: the field is written in TeX (arXiv and paper
    feeds), read with :func:`~newsletter.sources.tex.tex_to_text`. ``multiline``:
    paragraphs are kept, separated by one blank line; otherwise one line.
    """
    plain = html_to_text(text) if html else decode_entities(text)
    if tex:
        plain = tex_to_text(plain)
    plain = hygiene(plain, multiline=multiline)
    return tidy_paragraphs(plain) if multiline else tidy_line(plain)


def tidy_line(text: str) -> str:
    """Every run of whitespace (any Unicode space) as one space, ends stripped."""
    return " ".join(text.split())


def tidy_paragraphs(text: str) -> str:
    """Whitespace tidied inside paragraphs; at most one blank line between them."""
    paragraphs = (tidy_line(p) for p in _BLANK_LINES.split(text))
    return "\n\n".join(p for p in paragraphs if p)


# ---------------------------------------------------------------------------------------
# Fields: both steps


def line(
    raw: str, *, html: bool = False, tex: bool = False, limit: int | None = MAX_LINE_CHARS
) -> str:
    """A one-line field (title, name, category, guid), clean and read."""
    return _cut(read(hygiene(raw), html=html, tex=tex), limit, multiline=False)


def paragraphs(
    raw: str, *, html: bool = False, tex: bool = False, limit: int | None = MAX_TEXT_CHARS
) -> str:
    """A multi-line field (abstract, summary): clean plain paragraphs."""
    text = read(hygiene(raw, multiline=True), html=html, tex=tex, multiline=True)
    return _cut(text, limit, multiline=True)


def _cut(text: str, limit: int | None, *, multiline: bool) -> str:
    if limit is None or len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip() + " …"
    return hygiene(cut, multiline=multiline)  # a cut may split an emoji or flag sequence


def link(raw: str) -> str:
    """An absolute http(s) URL, or ``""``: a link with controls, bidi or format
    characters, spaces or another scheme is dropped, never repaired into another URL."""
    url = raw.strip(" \t\r\n")
    if not url or _WHITESPACE.search(url):
        return ""
    normal = unicodedata.normalize("NFC", url)
    if hygiene(url) != normal:
        return ""
    try:
        parts = urlsplit(normal)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return normal


def is_clean(text: str, *, multiline: bool = False) -> bool:
    """True when hygiene would leave ``text`` as it is."""
    return hygiene(text, multiline=multiline) == text
