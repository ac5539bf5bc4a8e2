"""The fast renderer: what is the same for many subscribers is built once per run.

Per run (cached): each paper card (rendered and inlined once per entry, highlight and
abstract length), section headings, the inlined page skeleton, and their quoted-printable
encodings. Per subscriber: a small Jinja2 render of the skeleton to learn which parts go
where, then joining cached pieces and escaping a handful of values. The output is
byte-for-byte what :func:`~newsletter.render.naive.render_naive` produces; the first digest
of a run is checked against it, and a mismatch (possible only with an override template
that transforms per-subscriber values) switches the run to the naive path with a warning.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from newsletter.records import Digest, Message, RenderedDigest
from newsletter.render import assemble, context, environment, inline, mime, views
from newsletter.render.naive import render_naive
from newsletter.render.settings import RenderSettings

log = logging.getLogger(__name__)

CACHE_LIMIT = 20_000
"""Entries per cache before it is emptied (bounds memory on very long-lived renderers)."""


@dataclass(slots=True)
class _Part:
    """One inlined part, as pieces (holes only when a template passed a subscriber value)."""

    pieces: list[assemble.Piece]
    size: int
    qp: bytes | None


@dataclass(slots=True)
class _Layout:
    """One subscriber's assembled HTML pieces (kept for building the MIME part cheaply)."""

    chunks: list[str]
    encoded: list[bytes | None]


class Renderer:
    """Renders digests for one run; keep one instance per run and call it per subscriber."""

    def __init__(self, settings: RenderSettings, *, verify: bool = True) -> None:
        self.settings = settings
        self._html_env = environment.make_environment(settings, html=True)
        self._text_env = environment.make_environment(settings, html=False)
        nonce = secrets.token_hex(6)
        self._token = re.compile(f"nlv{nonce}x([0-9]+)z")
        self._tokens = [f"nlv{nonce}x{i}z" for i in range(len(context.SUBSCRIBER_VALUES))]
        self._slot = f"<!--nlpart{nonce}-->"
        self._run = context.run_globals(settings)
        self._skeleton_html = self._html_env.get_template(environment.SKELETON_HTML)
        self._skeleton_text = self._text_env.get_template(environment.SKELETON_TEXT)
        self._styles: str | None = None
        self._cards: dict[views.CardKey, views.Card] = {}
        self._html_parts: dict[tuple[str, int], tuple[views.Card, _Part]] = {}
        self._raw_parts: dict[str, _Part] = {}
        self._shapes: dict[str, list[assemble.Piece]] = {}
        self._text_parts: dict[tuple[str, int], tuple[views.Card, str]] = {}
        self._verify = verify
        self._naive = False
        self._last: tuple[RenderedDigest, _Layout] | None = None
        self._mime = mime.MimeBuilder(settings)

    # -- public -------------------------------------------------------------------------

    def render(
        self, digest: Digest, *, unsubscribe_url: str, manage_url: str | None = None
    ) -> RenderedDigest:
        """The subject, inlined HTML (within the size budget) and text of one digest."""
        if self._naive:
            return render_naive(
                self.settings,
                digest,
                unsubscribe_url=unsubscribe_url,
                manage_url=manage_url,
                envs=(self._html_env, self._text_env),
            )
        values = context.subscriber_values(digest, unsubscribe_url, manage_url)
        items = digest.items
        layouts: dict[views.Plan, _Layout] = {}

        def fits(plan: views.Plan) -> bool:
            cards = [self._card(item, plan.limit) for item in items[: plan.shown]]
            layouts[plan] = self._html(digest, plan, cards, values)
            return sum(map(_utf8_len, layouts[plan].chunks)) <= self.settings.max_html_bytes

        chosen = views.choose_plan(len(items), fits)
        if chosen not in layouts:
            fits(chosen)
        layout = layouts[chosen]
        cards = [self._card(item, chosen.limit) for item in items[: chosen.shown]]
        page = context.page_context(self.settings, digest, chosen, cards, values)
        text = self._skeleton_text.render(page, part=self._text_part)
        rendered = RenderedDigest(
            subject=context.subject(self.settings, digest),
            html="".join(layout.chunks),
            text=context.finish_text(text),
        )
        if self._verify:
            self._verify = False
            self._check(digest, rendered, unsubscribe_url, manage_url)
            if self._naive:
                return self.render(digest, unsubscribe_url=unsubscribe_url, manage_url=manage_url)
        self._last = (rendered, layout)
        return rendered

    def message(
        self,
        digest: Digest,
        rendered: RenderedDigest,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        date: datetime | None = None,
        feedback_id: str | None = None,
    ) -> Message:
        """The complete email (multipart/alternative: text, then HTML) as bytes to send."""
        html_qp: bytes | None = None
        if self._last is not None and self._last[0] is rendered:
            html_qp = self._encoded_html(self._last[1])
        return self._mime.build(
            digest,
            rendered,
            message_id=message_id,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
            date=date,
            html_qp=html_qp,
            feedback_id=feedback_id,
        )

    # -- cards and parts ----------------------------------------------------------------

    def _card(self, item: Any, limit: int) -> views.Card:
        key = views.card_key(item, limit)
        card = self._cards.get(key)
        if card is None:
            if len(self._cards) >= CACHE_LIMIT:
                self._clear()
            card = self._cards[key] = views.make_card(item, limit)
        return card

    def _clear(self) -> None:
        self._cards.clear()
        self._html_parts.clear()
        self._text_parts.clear()
        self._raw_parts.clear()

    def _text_part(self, name: str, **kwargs: Any) -> str:
        card = kwargs.get("card")
        if len(kwargs) == 1 and isinstance(card, views.Card):
            hit = self._text_parts.get((name, id(card)))
            if hit is not None:
                return hit[1]
        out = self._text_env.get_template(name).render(self._run | kwargs).strip("\n")
        if len(kwargs) == 1 and isinstance(card, views.Card):
            # Keyed by identity: cards are cached objects; the value keeps the card alive.
            self._text_parts[(name, id(card))] = (card, out)
        return out

    def _inline_parts(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """Inline every part of one page not seen yet in a single premailer pass.

        premailer's cost is mostly per call (stylesheet parsing, one selector query per
        rule), so a digest's new cards are inlined together and cut apart again.
        """
        todo: dict[str, None] = {}
        for name, kwargs in calls:
            card = kwargs.get("card")
            if (
                len(kwargs) == 1
                and isinstance(card, views.Card)
                and (name, id(card)) in self._html_parts
            ):
                continue
            raw = self._html_env.get_template(name).render(self._run | kwargs)
            if raw not in self._raw_parts:
                todo[raw] = None
        if not todo:
            return
        cut = self._slot.replace("nlpart", "nlcut")
        joined = inline.inline_fragment(cut.join(todo), self._styles or "")
        outputs = joined.split(cut)
        if len(outputs) != len(todo):  # pragma: no cover - a part swallowed the marker
            outputs = [inline.inline_fragment(raw, self._styles or "") for raw in todo]
        if len(self._raw_parts) + len(todo) >= CACHE_LIMIT:
            self._raw_parts.clear()
        for raw, html in zip(todo, outputs, strict=True):
            pieces = assemble.compile_pieces(html, self._token)
            size = sum(_utf8_len(p) for p in pieces if isinstance(p, str))
            self._raw_parts[raw] = _Part(pieces, size, None)

    def _html_part(self, name: str, kwargs: dict[str, Any]) -> _Part:
        card = kwargs.get("card")
        by_card = len(kwargs) == 1 and isinstance(card, views.Card)
        if by_card:
            hit = self._html_parts.get((name, id(card)))
            if hit is not None:
                return hit[1]
        raw = self._html_env.get_template(name).render(self._run | kwargs)
        part = self._raw_parts.get(raw)
        if part is None:
            html = inline.inline_fragment(raw, self._styles or "")
            pieces = assemble.compile_pieces(html, self._token)
            part = _Part(pieces, sum(_utf8_len(p) for p in pieces if isinstance(p, str)), None)
            if len(self._raw_parts) >= CACHE_LIMIT:
                self._raw_parts.clear()
            self._raw_parts[raw] = part
        if by_card:
            assert isinstance(card, views.Card)
            self._html_parts[(name, id(card))] = (card, part)
        return part

    # -- the page -----------------------------------------------------------------------

    def _html(
        self,
        digest: Digest,
        plan: views.Plan,
        cards: list[views.Card],
        values: dict[str, str | None],
    ) -> _Layout:
        tokens: dict[str, str | None] = {}
        filled: list[str] = []
        for i, name in enumerate(context.SUBSCRIBER_VALUES):
            value = values[name]
            tokens[name] = self._tokens[i] if value else value
            filled.append(value or "")
        page = context.page_context(self.settings, digest, plan, cards, tokens)
        calls: list[tuple[str, dict[str, Any]]] = []
        slot = self._slot

        def part(name: str, **kwargs: Any) -> Markup:
            calls.append((name, kwargs))
            return Markup(slot)

        raw = self._skeleton_html.render(page, part=part)
        between = raw.split(slot)
        # Neighbouring parts with nothing between them share one slot of the skeleton, so
        # the skeleton's shape (and its one premailer pass) does not depend on the counts.
        shape: list[str] = [between[0]]
        groups: list[list[int]] = []
        current: list[int] = []
        for i in range(len(calls)):
            current.append(i)
            if between[i + 1] or i == len(calls) - 1:
                groups.append(current)
                current = []
                shape += [slot, between[i + 1]]
        key = "".join(shape)
        pieces = self._shapes.get(key)
        if pieces is None:
            if self._styles is None:
                self._styles = inline.style_blocks(raw)
            pieces = assemble.compile_pieces(inline.inline_document(key), self._token, slot)
            self._shapes[key] = pieces
        self._inline_parts(calls)
        chunks: list[str] = []
        encoded: list[bytes | None] = []
        group = 0
        for piece in pieces:
            if isinstance(piece, str):
                chunks.append(piece)
                encoded.append(None)
            elif piece.index >= 0:
                assemble.fill([piece], filled, chunks)
                encoded.append(None)
            else:
                for index in groups[group]:
                    name, kwargs = calls[index]
                    part_html = self._html_part(name, kwargs)
                    if all(isinstance(p, str) for p in part_html.pieces):
                        chunks.append("".join(p for p in part_html.pieces if isinstance(p, str)))
                        encoded.append(self._part_qp(part_html, chunks[-1]))
                    else:
                        start = len(chunks)
                        assemble.fill(part_html.pieces, filled, chunks)
                        encoded.extend([None] * (len(chunks) - start))
                group += 1
        return _Layout(chunks, encoded)

    @staticmethod
    def _part_qp(part: _Part, html: str) -> bytes:
        if part.qp is None:
            part.qp = mime.qp_chunk(html)
        return part.qp

    @staticmethod
    def _encoded_html(layout: _Layout) -> bytes:
        return b"".join(
            enc if enc is not None else mime.qp_chunk(chunk)
            for chunk, enc in zip(layout.chunks, layout.encoded, strict=True)
            if chunk
        )

    def _check(
        self, digest: Digest, rendered: RenderedDigest, unsubscribe_url: str, manage_url: str | None
    ) -> None:
        reference = render_naive(
            self.settings,
            digest,
            unsubscribe_url=unsubscribe_url,
            manage_url=manage_url,
            envs=(self._html_env, self._text_env),
        )
        if reference != rendered:
            log.warning(
                "fast rendering differs from the plain path for these templates; "
                "rendering this run the slow way (see docs/templates.md, per-subscriber values)"
            )
            self._naive = True


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8")) if not text.isascii() else len(text)
