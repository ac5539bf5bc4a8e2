"""Turn feed titles and summaries into plain text.

Entries are stored as plain text only, so nothing a publisher wrote can reach a
digest as markup. LaTeX such as ``$^3$`` or ``\\alpha`` is left untouched: it stays
readable in an email and a reader knows it.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "table", "tr", "section", "article", "hr", "dd", "dt",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_BLANK_LINES = re.compile(r"\n\s*\n+")


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

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment, paragraphs separated by a blank line."""
    if "<" not in markup and "&" not in markup:
        return normalise_paragraphs(markup)
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient
        return normalise_paragraphs(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return normalise_paragraphs("".join(parser.parts))


def normalise_paragraphs(text: str) -> str:
    """Collapse whitespace inside paragraphs; keep at most one blank line between them."""
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (_one_line(p) for p in _BLANK_LINES.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def _one_line(text: str) -> str:
    # str.split() knows every Unicode space (no-break, thin, ideographic...).
    if "\u200b" in text:
        text = text.replace("\u200b", "")
    return " ".join(text.split())


def one_line(text: str, *, is_html: bool = False) -> str:
    """A title: a single line of plain text."""
    plain = html_to_text(text) if is_html else html.unescape(text) if "&" in text else text
    return _one_line(_CONTROL.sub("", plain))


def plain(text: str, *, is_html: bool) -> str:
    """Summary/abstract text: plain paragraphs, whatever the source format."""
    if is_html:
        return html_to_text(text)
    return normalise_paragraphs(html.unescape(text) if "&" in text else text)
