"""The unsubscribe pages (confirm, already, unsubscribed, resubscribed, error) by name.

Their templates are files in ``newsletter/web/templates`` sharing the site's layout;
rendering is sandboxed and autoescaped, so an address or title can never inject markup.
"""

from __future__ import annotations

from typing import Any

from newsletter.web.templating import render as render_template

PAGES = ("confirm", "already", "unsubscribed", "resubscribed", "error")


def render(page: str, **context: Any) -> str:
    """Render one page; every value is HTML-escaped."""
    if page not in PAGES:
        raise KeyError(page)
    context.setdefault("advice", "")
    return render_template(f"{page}.html", **context)
