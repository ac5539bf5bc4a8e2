"""An archived digest made safe to hand on: the mail's HTML without what is personal.

A digest's footer says who it was sent to and carries that person's unsubscribe and
manage links. Whoever opens a forwarded ``/d/<token>`` link must get none of it, so:

1. the default template wraps those parts in ``<!--nl:personal-->`` …
   ``<!--/nl:personal-->`` and they are cut out;
2. for templates without the markers, every link that acts for the subscriber (their
   unsubscribe, resubscribe or manage link, anything carrying a token or their address)
   is removed, and so is the "View in browser" link (the page itself);
3. any remaining mention of the address becomes "a subscriber".

The mail is never rendered again: this runs on the HTML part of the stored message.
"""

from __future__ import annotations

import html as html_escape
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import quote, unquote

import lxml.html  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

_MARKED = re.compile(r"<!--\s*nl:personal\s*-->.*?<!--\s*/nl:personal\s*-->", re.S)
_PERSONAL_PATHS = ("/unsubscribe", "/resubscribe", "/manage")
REPLACEMENT = "a subscriber"


def html_part(data: bytes) -> str | None:
    """The HTML part of a stored message, decoded; None when it has none."""
    if not data:
        return None
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _acts_for_subscriber(href: str, base_url: str, subscriber: str) -> bool:
    plain = unquote(href).lower()
    if subscriber and subscriber.lower() in plain:
        return True
    if href.lower().startswith("mailto:"):
        return "unsubscribe" in plain
    base = base_url.rstrip("/")
    if not href.startswith(base + "/"):
        return False
    rest = href[len(base) :]
    return rest.startswith(_PERSONAL_PATHS) or "token=" in rest


def public_copy(html: str, *, subscriber: str, base_url: str, self_url: str = "") -> str:
    """The digest as anyone may see it (see the module docstring); a link to ``self_url``
    (the page itself: "View in browser") goes too."""
    html = _MARKED.sub("", html)
    document = lxml.html.document_fromstring(html)
    for anchor in list(document.iter("a")):
        href = anchor.get("href", "")
        if (self_url and href == self_url) or _acts_for_subscriber(href, base_url, subscriber):
            parent = anchor.getparent()
            anchor.drop_tree()
            if parent is not None and not parent.text_content().strip() and not len(parent):
                parent.drop_tree()
    head = document.find("head")
    if head is not None:
        head.insert(0, etree.Element("meta", name="robots", content="noindex, nofollow"))
    out = str(lxml.html.tostring(document, encoding="unicode", doctype="<!DOCTYPE html>"))
    if subscriber:
        for form in {subscriber, html_escape.escape(subscriber), quote(subscriber, safe="@")}:
            out = re.sub(re.escape(form), REPLACEMENT, out, flags=re.IGNORECASE)
    return out
