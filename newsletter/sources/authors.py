"""Author strings as people: one clean name per person, affiliations set apart.

Feeds often put every author into one string: arXiv writes ``A (LORIA, CNRS), B and C``,
bioRxiv-style RSS 1.0 writes ``LAPALU, N., SIMON, A.``. :func:`people` splits such a
string at commas, semicolons and a final "and" outside parentheses, brackets, braces
and ``$…$``, drops the parenthesised affiliations (``Entry.authors`` holds names only),
and turns ``Surname, Initials`` pairs into ``N. Lapalu``. Whatever it cannot read with
confidence comes back as the whole string: one odd name beats half-names.
"""

from __future__ import annotations

import re

from newsletter.sources import text

_SEPARATOR = re.compile(r"\s*[,;]\s*(?:(?:and|&)\s+)?|\s+(?:and|&)\s+")
_SUFFIX = re.compile(r"(?:Jr|Sr)\.?|II|III|IV")
_WORD = re.compile(r"[^\W\d_]+")
_OPEN, _CLOSE = "([{", ")]}"


def people(raw: str, *, tex: bool = False, arxiv: bool = False) -> tuple[str, ...]:
    """The people named in one author string, in order, duplicates kept.

    ``arxiv``: the string is an arXiv author list (``Given Surname, …``), so every
    part is a name, even a single word. Otherwise a string is split only when each
    part looks like a whole name (two words, or a ``Surname, Initials`` pair): a lone
    ``Smith, John`` stays one person. ``tex``: names are written in TeX (``R\\'emi``).
    """
    whole = text.hygiene(raw)
    if text.has_markup(whole):  # arXiv's old RSS: <a href="…/au:+Smith_J">J. Smith</a>, …
        whole = text.read(whole, html=True)
    names = _names(whole, arxiv=arxiv)
    if names is None:
        names = [whole]
    cleaned = (text.line(name, tex=tex) for name in names)
    return tuple(name for name in cleaned if name)


def _names(whole: str, *, arxiv: bool) -> list[str] | None:
    """Names from ``whole``, or None when it cannot be split with confidence."""
    parts = _split_top_level(whole)
    if parts is None:
        return None
    names = _attach_suffixes([n for n in (_without_affiliation(p) for p in parts) if n])
    if not names or not all(_WORD.search(n) for n in names):
        return None
    paired = _surname_initials(names)
    if paired is not None:
        return paired
    if arxiv or all(len(n.split()) >= 2 for n in names):
        return names
    return None


def _depths(value: str) -> list[int] | None:
    """Nesting depth at each character (brackets and ``$`` math), None if unbalanced."""
    depth, math, depths = 0, False, []
    for i, c in enumerate(value):
        if c == "$" and (i == 0 or value[i - 1] != "\\"):
            math = not math
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth < 0:
                return None
        depths.append(depth + (1 if math else 0))
    return None if depth or math else depths


def _split_top_level(value: str) -> list[str] | None:
    depths = _depths(value)
    if depths is None:
        return None
    parts, start = [], 0
    for sep in _SEPARATOR.finditer(value):
        if depths[sep.start()] == 0 and sep.end() > sep.start():
            parts.append(value[start : sep.start()])
            start = sep.end()
    parts.append(value[start:])
    return parts


def _without_affiliation(part: str) -> str:
    """``Jean Kieffer (LORIA, CNRS)`` → ``Jean Kieffer``: top-level ``(…)`` removed."""
    if "(" not in part:
        return text.tidy_line(part)
    kept, depth = [], 0
    for c in part:
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif not depth:
            kept.append(c)
    return text.tidy_line("".join(kept))


def _attach_suffixes(names: list[str]) -> list[str]:
    """``John Smith, Jr.`` is one person."""
    out: list[str] = []
    for name in names:
        if out and _SUFFIX.fullmatch(name):
            out[-1] = f"{out[-1]}, {name}"
        else:
            out.append(name)
    return out


def _is_initials(part: str) -> bool:
    """``N.``, ``J.-P.``, ``A. B.``, ``AB``, ``x.``: at most four letters, capitals unless
    dotted, and dotted unless two or fewer."""
    letters = part.replace(".", "").replace("-", "").replace(" ", "")
    if not letters or len(letters) > 4 or not letters.isalpha():
        return False
    if "." in part:
        return part.count(".") >= len(letters) or letters.isupper()
    return letters.isupper() and len(letters) <= 2


def _surname_initials(names: list[str]) -> list[str] | None:
    """``["LAPALU", "N.", "SIMON", "A."]`` → ``["N. Lapalu", "A. Simon"]``, else None."""
    if len(names) < 2 or len(names) % 2:
        return None
    surnames, initials = names[0::2], names[1::2]
    if not all(map(_is_initials, initials)) or any(map(_is_initials, surnames)):
        return None
    return [f"{i.upper()} {_capitalised(s)}" for s, i in zip(surnames, initials, strict=True)]


def _capitalised(surname: str) -> str:
    """An all-capitals surname as ``O'Brien``, ``Smith-Jones``; any other as written.

    Inner capitals (McDonald) cannot be recovered from MCDONALD; Mcdonald is the price
    of not shouting every other name in a digest.
    """
    if not surname.isupper():
        return surname
    return _WORD.sub(lambda m: m[0][:1] + m[0][1:].lower(), surname)
