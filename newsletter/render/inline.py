"""CSS inlining with premailer, configured for mail clients.

- ``strip_important=False``: premailer would otherwise strip ``!important`` inside the
  ``@media`` rules it keeps, and dark-mode/mobile overrides would lose to inline styles.
- ``allow_network=False``: never fetch ``<link>`` stylesheets.
- cssutils logs a warning per vendor property; its level is raised to CRITICAL.
"""

from __future__ import annotations

import logging
import re

import premailer

_BODY = re.compile(r"<body\b[^>]*>(.*)</body>", re.S)
_STYLE = re.compile(r"<style\b[^>]*>.*?</style>", re.S | re.I)

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
    )


def inline_document(html: str) -> str:
    """Inline a whole HTML document (what the straightforward path does per digest)."""
    return str(make_premailer().transform(html, pretty_print=False))


def style_blocks(html: str) -> str:
    """All ``<style>`` elements of a rendered document, to inline fragments against."""
    return "".join(_STYLE.findall(html))


def inline_fragment(fragment: str, styles: str) -> str:
    """Inline a body fragment against the page's style blocks and return the fragment.

    Works because the stylesheet only uses selectors that look at the element itself
    (classes, tags), so a fragment gets the same inline styles alone as in the page.
    """
    out = inline_document(
        f"<!DOCTYPE html><html><head>{styles}</head><body>{fragment}</body></html>"
    )
    found = _BODY.search(out)
    if found is None:  # pragma: no cover - premailer always returns a body here
        raise RuntimeError("premailer returned no <body>")
    return found.group(1)
