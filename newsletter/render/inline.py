"""CSS inlining with premailer, configured for mail clients, and the line layout of the HTML.

- ``strip_important=False``: premailer would otherwise strip ``!important`` inside the
  ``@media`` rules it keeps, and dark-mode/mobile overrides would lose to inline styles.
- ``allow_network=False``: never fetch ``<link>`` stylesheets.
- ``disable_basic_attributes=["bgcolor"]``: premailer copies ``background-color`` into a
  ``bgcolor`` attribute on every element, including each highlighted word (2.4 KB per
  digest); the few tables that need one for Outlook carry it in the template.
- cssutils logs a warning per vendor property; its level is raised to CRITICAL.

After inlining, :func:`break_lines` ends a line after every ``</table>`` and ``</head>``:
each paper card becomes a line of its own, so its quoted-printable encoding is the same in
every digest (see :mod:`newsletter.render.encoding`).
"""

from __future__ import annotations

import logging
import re

import premailer

_BODY = re.compile(r"<body\b[^>]*>(.*)</body>", re.S)
_STYLE = re.compile(r"<style\b[^>]*>.*?</style>", re.S | re.I)
_BREAK_AFTER = re.compile(r"(</table>|</head>)")

logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)


def make_premailer() -> premailer.Premailer:
    """The one premailer configuration used everywhere (naive and fast paths alike)."""
    return premailer.Premailer(
        strip_important=False,
        allow_network=False,
        keep_style_tags=False,
        remove_classes=False,
        cssutils_logging_level=logging.CRITICAL,
        disable_validation=True,
        disable_basic_attributes=["bgcolor"],
    )


def break_lines(html: str) -> str:
    """A line break after every ``</table>`` and ``</head>`` (invisible in HTML: whitespace
    between block boxes). Applying it to pieces and joining them equals applying it to the
    joined text, since neither end tag can straddle a piece."""
    return _BREAK_AFTER.sub("\\1\n", html)


def inline_document(html: str) -> str:
    """Inline a whole HTML document (what the straightforward path does per digest)."""
    return str(make_premailer().transform(html, pretty_print=False))


def style_blocks(html: str) -> str:
    """All ``<style>`` elements of a rendered document, to inline fragments against."""
    return "".join(_STYLE.findall(html))


def inline_fragments(fragments: list[str], styles: str, cut: str) -> list[str]:
    """Inline body fragments against the page's style blocks, all in one premailer pass.

    premailer's cost is mostly per call (stylesheet parsing, one selector query per rule),
    so fragments go through together, separated by ``cut`` (an HTML comment), and are cut
    apart again. This works because the stylesheet only uses selectors that look at the
    element itself (classes, tags): a fragment gets the same inline styles alone as in the
    page.
    """
    out = inline_document(
        f"<!DOCTYPE html><html><head>{styles}</head><body>{cut.join(fragments)}</body></html>"
    )
    found = _BODY.search(out)
    if found is None:  # pragma: no cover - premailer always returns a body here
        raise RuntimeError("premailer returned no <body>")
    pieces = found.group(1).split(cut)
    if len(pieces) == len(fragments):
        return pieces
    if len(fragments) == 1:
        return [found.group(1)]
    # A fragment swallowed the separator (an unclosed comment, say): go one by one.
    return [inline_fragments([fragment], styles, cut)[0] for fragment in fragments]
