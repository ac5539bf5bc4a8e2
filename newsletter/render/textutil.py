"""Small text helpers shared by the HTML and plain-text digests.

Everything here is a pure function of its arguments so that a paper's card can be
computed once per run and reused for every subscriber who gets it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from newsletter.records import Span

# C0 controls except TAB/LF/CR, DEL, C1 controls (U+0080–U+009F: mis-decoded feeds; Gmail
# clips messages containing them), lone surrogates and non-characters lxml rejects.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+")
_CODE_URL = re.compile(
    r"https?://(?:www\.)?(?:github\.com|gitlab\.com)/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", re.I
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_LONG = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_RTL_LANGS = frozenset({"ar", "arc", "dv", "fa", "ha", "he", "khw", "ks", "ku", "ps", "ur", "yi"})


def _is_clean(text: str) -> bool:
    """True when cleaning cannot change ``text``: every control character, surrogate,
    non-character and whitespace other than the ASCII space is unprintable."""
    return text.isprintable() and "  " not in text


def clean(text: str) -> str:
    """Drop control characters (C0 except whitespace, C1, surrogates) and collapse whitespace."""
    if _is_clean(text):
        return text.strip(" ")
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()


def clean_keep_edges(text: str) -> str:
    """Like :func:`clean` but keeps a leading/trailing space (for text cut at highlights)."""
    if _is_clean(text):
        return text
    return _SPACES.sub(" ", _CONTROL.sub("", text))


def header_safe(text: str) -> str:
    """A single-line header value: CR, LF and every other control character become spaces."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " "))).strip()


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link we may put in an ``href``, else ``None``.

    Feeds sometimes carry relative links or ``javascript:`` URLs; neither may reach a mail.
    """
    if not url:
        return None
    return _safe_url(url)


@functools.lru_cache(maxsize=65_536)
def _safe_url(url: str) -> str | None:
    # Memoised: a run checks the same few thousand paper links in every digest (a profile of
    # 2,000 personal digests spent 15 % of its time here, in urlsplit). Links are short, so
    # the cache stays a few MiB.
    url = _CONTROL.sub("", url).strip()
    if any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def text_direction(lang: str) -> str:
    """``rtl`` for right-to-left languages, else ``ltr`` (for the ``dir`` attribute)."""
    return "rtl" if lang.split("-")[0].lower() in _RTL_LANGS else "ltr"


def format_date(moment: datetime) -> str:
    """``26 Nov 2026``: locale-independent, so output never depends on the host's locale."""
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def format_long_date(moment: datetime) -> str:
    """``26 November 2026``."""
    return f"{moment.day} {_MONTHS_LONG[moment.month - 1]} {moment.year}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 paper`` / ``3 papers``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def join_words(items: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def shorten_authors(authors: Sequence[str], limit: int = 3) -> str:
    """``A, B, C and 5 others`` past ``limit + 1`` authors; all names when there are few."""
    names = [n for n in (clean(a) for a in authors) if n]
    if len(names) <= limit + 1:
        return join_words(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} others"


def code_url(abstract: str) -> str | None:
    """The first GitHub/GitLab repository URL mentioned in the abstract, without trailing dots."""
    found = _CODE_URL.search(abstract)
    if not found:
        return None
    return safe_url(found.group(0).rstrip(".,;:)"))


def split_spans(text: str, spans: Iterable[Span]) -> list[tuple[str, bool]]:
    """Cut ``text`` into ``(piece, highlighted)`` runs from half-open spans (clipped, merged)."""
    marks: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        start, end = max(0, start), min(len(text), end)
        if start >= end:
            continue
        if marks and start <= marks[-1][1]:
            marks[-1] = (marks[-1][0], max(marks[-1][1], end))
        else:
            marks.append((start, end))
    runs: list[tuple[str, bool]] = []
    pos = 0
    for start, end in marks:
        if start > pos:
            runs.append((text[pos:start], False))
        runs.append((text[start:end], True))
        pos = end
    if pos < len(text):
        runs.append((text[pos:], False))
    return runs


def clean_runs(runs: Iterable[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Clean each run, collapsing whitespace across run borders and trimming the ends."""
    out: list[tuple[str, bool]] = []
    for piece, marked in runs:
        piece = clean_keep_edges(piece)
        if out and out[-1][0].endswith(" ") and piece.startswith(" "):
            piece = piece[1:]
        if not piece:
            continue
        if out and out[-1][1] == marked:
            out[-1] = (out[-1][0] + piece, marked)
        else:
            out.append((piece, marked))
    if out and out[0][0].startswith(" "):
        out[0] = (out[0][0].lstrip(), out[0][1])
    if out and out[-1][0].endswith(" "):
        out[-1] = (out[-1][0].rstrip(), out[-1][1])
    return [run for run in out if run[0]]


def excerpt_runs(
    runs: list[tuple[str, bool]], limit: int | None
) -> tuple[list[tuple[str, bool]], bool]:
    """Keep at most ``limit`` characters, cut at a word boundary; returns (runs, was_cut)."""
    total = sum(len(p) for p, _ in runs)
    if limit is None or total <= limit:
        return runs, False
    out: list[tuple[str, bool]] = []
    used = 0
    for piece, marked in runs:
        room = limit - used
        if room <= 0:
            break
        if len(piece) <= room:
            out.append((piece, marked))
            used += len(piece)
            continue
        cut = piece[: room + 1]
        space = cut.rfind(" ")
        cut = cut[:space] if space > 0 else ("" if not marked else piece[:room])
        if cut.strip():
            out.append((cut.rstrip(), marked))
        break
    while out and out[-1][0].rstrip() != out[-1][0]:
        out[-1] = (out[-1][0].rstrip(), out[-1][1])
    # Do not end on a dangling comma or similar.
    if out:
        piece, marked = out[-1]
        out[-1] = (piece.rstrip(",;:-–—( "), marked)
        if not out[-1][0]:
            out.pop()
    return out, True


def wrap(
    text: str, width: int = 78, indent: str = "", first_indent: str | None = None
) -> list[str]:
    """Greedy word wrap that never breaks a word: URLs stay whole (a long one gets its line)."""
    first = indent if first_indent is None else first_indent
    words = text.split()
    joined = " ".join(words)
    if len(first) + len(joined) <= width:  # the common case: it fits on one line
        return [first + joined] if words else []
    lines: list[str] = []
    current = first
    has_word = False
    for word in words:
        if not has_word:
            current += word
            has_word = True
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = indent + word
    if has_word:
        lines.append(current)
    return lines


def is_lone_url(line: str) -> bool:
    """True for a line holding nothing but a URL (plus indentation or a short label)."""
    words = line.split()
    return bool(words) and _URL.fullmatch(words[-1]) is not None and len(words) <= 2
