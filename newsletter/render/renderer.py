"""The fast renderer: premailer runs once per template *shape*, never once per digest.

Templates get hole values (:mod:`newsletter.render.holes`) instead of plain ones, so what a
template prints is its shape — the markup with a token for each per-subscriber value and a
marker for each run of parts. Each shape is inlined once per run (new shapes of a digest go
through premailer together) and cut into pieces; a digest is then the pieces of its shapes
with the escaped values and the parts' HTML filled in. A paper card, once filled, is kept
(and so is the quoted-printable encoding of its line), so a digest whose cards were seen
before costs two small Jinja renders and joining strings and bytes.

The output is byte for byte :func:`~newsletter.render.naive.render_naive`'s. With
``verify`` (the default) a sample digest and the first real digest of the run are compared
with it; a difference — possible only with override templates that put a value where it
cannot be filled in — switches the run to the naive path with a warning.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import jinja2
from markupsafe import Markup

from newsletter.records import Digest, DigestItem, DigestLinks, Entry, Message, RenderedDigest
from newsletter.render import (
    assemble,
    context,
    encoding,
    environment,
    errors,
    holes,
    inline,
    mime,
    sample,
    views,
)
from newsletter.render.naive import render_naive
from newsletter.render.settings import RenderSettings

log = logging.getLogger(__name__)

CACHE_LIMIT = 8_192
"""Cards (and their filled parts with encodings) kept; the least recently used go first.
Bounds memory whatever the number of subscribers (about 12 KB a card, so ~100 MiB at
most); a card used again after eviction is built again (~0.4 ms). At 10,000 subscribers
with 2,000 topics, 4,096 missed 38% of cards, 8,192 28% (24% is the floor: first uses)."""

PAGE_SHAPES = 256
"""Page skeleton shapes kept (the built-in templates have a handful)."""
MANY_INLINE_PASSES = 200
"""premailer passes in one run past which the templates are worth a look (a warning)."""

K = TypeVar("K")
V = TypeVar("V")


class _Cache(Generic[K, V]):
    """A bounded mapping that drops the least recently used entry first."""

    def __init__(self, limit: int) -> None:
        self._data: OrderedDict[K, V] = OrderedDict()
        self._limit = limit

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        if len(self._data) > self._limit:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(slots=True)
class _Node:
    """One template's output: its shape (the cache key), the values printed into it and,
    per group marker, the parts (calls or highlighted runs) that go there."""

    key: str
    values: list[str]
    groups: list[list[_Call | _Runs]]


@dataclass(slots=True)
class _Call:
    """A ``part(name, **kwargs)`` call; ``node`` is set once rendered, ``html`` once filled."""

    name: str
    kwargs: dict[str, Any]
    cache_key: tuple[Any, ...] | None = None
    node: _Node | None = None
    pieces: list[assemble.Piece] | None = None
    html: encoding.Chunk | None = None


@dataclass(slots=True)
class _Runs:
    """A ``highlight(runs, kind)`` call: text runs, the marked ones through the highlight
    template (its calls are in ``calls``, one per marked run)."""

    runs: tuple[views.Run, ...]
    kind: str
    calls: list[_Call | None] = field(default_factory=list)


@dataclass(slots=True)
class _Page:
    """One size-budget attempt of one digest."""

    context: dict[str, Any]
    chunks: list[assemble.Filled]
    html_qp: bytes


class Renderer:
    """Renders the digests of one run; keep one instance per run, call it per subscriber.

    Constructing it loads every template and renders a sample digest that takes every
    branch the default templates have: a broken template raises :class:`TemplateError`
    here, before any digest is rendered. Not thread-safe: one per thread or process.
    """

    def __init__(self, settings: RenderSettings, *, verify: bool = True) -> None:
        self.settings = settings
        self._html_env = environment.make_environment(settings, html=True)
        self._text_env = environment.make_environment(settings, html=False)
        problems = environment.compile_problems(settings, self._envs)
        if problems:
            raise errors.TemplateError(problems)
        nonce = secrets.token_hex(6)
        self._recorder = holes.Recorder(f"nlv{nonce}x")
        self._value_token = re.compile(f"nlv{nonce}x([0-9]+)z")
        self._fragment = f"<!--nlf{nonce}x{{}}z-->"
        self._fragment_token = re.compile(f"<!--nlf{nonce}x([0-9]+)z-->")
        self._group = f"<!--nlg{nonce}-->"
        self._cut = f"<!--nlcut{nonce}-->"
        self._run = context.run_globals(settings)
        self._text_functions = {
            "part": environment.Trusted(self._text_part),
            "highlight": environment.Trusted(_text_highlight),
        }
        self._skeleton_html = environment.get_template(self._html_env, environment.SKELETON_HTML)
        self._skeleton_text = environment.get_template(self._text_env, environment.SKELETON_TEXT)
        self._pages: _Cache[str, tuple[list[assemble.Piece], str]] = _Cache(PAGE_SHAPES)
        self._shapes: _Cache[tuple[str, str], list[assemble.Piece]] = _Cache(CACHE_LIMIT)
        self._cards: _Cache[views.CardKey, views.Card] = _Cache(CACHE_LIMIT)
        self._entries: _Cache[Entry, views.EntryFields] = _Cache(CACHE_LIMIT)
        self._html_parts: _Cache[tuple[Any, ...], tuple[Any, encoding.Chunk]] = _Cache(CACHE_LIMIT)
        self._text_parts: _Cache[tuple[Any, ...], tuple[Any, str]] = _Cache(CACHE_LIMIT)
        self._lines = encoding.LineEncoder()
        self._mime = mime.MimeBuilder(settings)
        self._naive = False
        self._verify = False
        self.inline_calls = 0
        """premailer passes so far (for tests and benchmarks: bounded by the shapes)."""
        self._validate(verify)
        self._verify = verify

    @property
    def _envs(self) -> tuple[jinja2.Environment, jinja2.Environment]:
        return self._html_env, self._text_env

    # -- public -------------------------------------------------------------------------

    def render(self, digest: Digest, links: DigestLinks) -> RenderedDigest:
        """The subject, inlined HTML (within the size budget), text and their encodings.

        Raises :class:`DigestRenderError` when this digest's data trips a template, and
        :class:`TemplateError` when a template turns out broken for everyone (a sandbox
        violation on a branch the sample digest did not take).
        """
        try:
            if self._naive:
                return render_naive(self.settings, digest, links, envs=self._envs)
            try:
                rendered = self._render_fast(digest, links)
            except assemble.Unsupported as reason:
                self._fall_back(str(reason))
                return self.render(digest, links)
        except errors.DigestRenderError as error:
            raise errors.DigestRenderError(error.problem, digest.subscriber.email) from error
        if self._verify:
            self._verify = False
            self._compare(digest, links, rendered)
            if self._naive:
                return self.render(digest, links)
        return rendered

    def message(
        self,
        digest: Digest,
        rendered: RenderedDigest,
        *,
        message_id: str,
        date: datetime | None = None,
        unsubscribe_mailto: str | None = None,
        feedback_id: str | None = None,
    ) -> Message:
        """The complete email (multipart/alternative: text, then HTML) as bytes to send.

        Joins headers with the bodies ``rendered`` already carries; raises
        :class:`HeaderError` (a :class:`DigestRenderError`) for a value that cannot go into
        a header safely.
        """
        return self._mime.build(
            digest,
            rendered,
            message_id=message_id,
            date=date,
            unsubscribe_mailto=unsubscribe_mailto,
            feedback_id=feedback_id,
        )

    # -- one digest ---------------------------------------------------------------------

    def _render_fast(self, digest: Digest, links: DigestLinks) -> RenderedDigest:
        values = context.subscriber_values(digest, links, views.HOLES)
        items = digest.items
        pages: dict[views.Plan, _Page] = {}

        def fits(plan: views.Plan) -> bool:
            cards = [self._card(item, plan.limit) for item in items[: plan.shown]]
            page = context.page_context(self.settings, digest, plan, cards, values, views.HOLES)
            chunks = self._html(page)
            pages[plan] = _Page(page, chunks, encoding.encode_chunks(chunks))
            return len(pages[plan].html_qp) <= self.settings.max_html_bytes

        chosen = views.choose_plan(len(items), fits)
        if chosen not in pages:
            fits(chosen)
        page = pages[chosen]
        text = context.finish_text(
            environment.render(
                self._skeleton_text,
                page.context | self._text_functions,
            )
        )
        return RenderedDigest(
            subject=context.subject(self.settings, digest),
            html=encoding.join(page.chunks),
            text=text,
            html_qp=page.html_qp,
            text_qp=self._lines.encode(text),
            links=links,
        )

    def _card(self, item: DigestItem, limit: int) -> views.Card:
        key = views.card_key(item, limit)
        card = self._cards.get(key)
        if card is None:
            fields = self._entries.get(item.entry)
            if fields is None:
                fields = views.entry_fields(item.entry, views.HOLES)
                self._entries.put(item.entry, fields)
            card = views.make_card(item, limit, views.HOLES, fields)
            self._cards.put(key, card)
        return card

    # -- HTML: render shapes, inline the new ones, fill in --------------------------------

    def _html(self, page: dict[str, Any]) -> list[assemble.Filled]:
        """The page's HTML as chunks (static pieces, escaped values, cached parts)."""
        node = self._node(self._skeleton_html, page)
        todo: list[_Call] = []
        for group in node.groups:
            self._expand(group, todo)
        compiled = self._pages.get(node.key)
        if compiled is None:
            styles = inline.style_blocks(node.key)
            self._inlined()
            compiled = self._compile(inline.inline_document(node.key), node), styles
            self._pages.put(node.key, compiled)
        pieces, styles = compiled
        self._compile_parts(todo, styles)
        chunks: list[assemble.Filled] = []
        assemble.fill(pieces, node.values, [self._group_html(g) for g in node.groups], chunks)
        return chunks

    def _node(self, template: jinja2.Template, values: dict[str, Any]) -> _Node:
        """Render ``template`` with hole values; parts and highlights become markers."""
        calls: list[_Call | _Runs] = []
        fragment = self._fragment

        def part(name: str, **kwargs: Any) -> Markup:
            calls.append(_Call(name, kwargs))
            return Markup(fragment.format(len(calls) - 1))

        def highlight(runs: Any, kind: str = "hl") -> Markup:
            calls.append(_Runs(tuple(runs), str(kind)))
            return Markup(fragment.format(len(calls) - 1))

        token = holes.start(self._recorder)
        try:
            functions = {
                "part": environment.Trusted(part),
                "highlight": environment.Trusted(highlight),
            }
            raw = environment.render(template, values | functions)
        finally:
            holes.stop(token)
        key: list[str] = []
        groups: list[list[_Call | _Runs]] = []
        pos, end = 0, -1
        for match in self._fragment_token.finditer(raw):
            if groups and match.start() == end:
                groups[-1].append(calls[int(match.group(1))])
            else:
                key += [raw[pos : match.start()], self._group]
                groups.append([calls[int(match.group(1))]])
            pos = end = match.end()
        key.append(raw[pos:])
        return _Node("".join(key), self._recorder.values, groups)

    def _expand(self, group: list[_Call | _Runs], todo: list[_Call]) -> None:
        """Render every part of ``group`` not cached yet (recursively); collect them."""
        for call in group:
            if isinstance(call, _Runs):
                call.calls = [
                    _Call(environment.HIGHLIGHT_HTML, {"text": run.text, "kind": call.kind})
                    if run.marked
                    else None
                    for run in call.runs
                ]
                self._expand([c for c in call.calls if c is not None], todo)
                continue
            if call.node is not None or call.html is not None:
                continue  # the same part printed twice
            call.cache_key = _part_key(call.name, call.kwargs)
            if call.cache_key is not None:
                hit = self._html_parts.get(call.cache_key)
                if hit is not None:
                    call.html = hit[1]
                    continue
            template = environment.get_template(self._html_env, call.name)
            call.node = self._node(template, self._run | call.kwargs)
            todo.append(call)
            for inner in call.node.groups:
                self._expand(inner, todo)

    def _compile_parts(self, todo: list[_Call], styles: str) -> None:
        """Give each call of ``todo`` its shape's pieces; the shapes not seen yet go through
        premailer together, in one pass."""
        new: dict[str, list[_Call]] = {}
        for call in todo:
            assert call.node is not None
            call.pieces = self._shapes.get((styles, call.node.key))
            if call.pieces is None:
                new.setdefault(call.node.key, []).append(call)
        if not new:
            return
        self._inlined()
        outputs = inline.inline_fragments(list(new), styles, self._cut)
        for (key, calls), html in zip(new.items(), outputs, strict=True):
            assert calls[0].node is not None
            pieces = self._compile(html, calls[0].node)
            self._shapes.put((styles, key), pieces)
            for call in calls:
                call.pieces = pieces

    def _inlined(self) -> None:
        self.inline_calls += 1
        if self.inline_calls == MANY_INLINE_PASSES:
            log.warning(
                "premailer has run %d times this run: the templates print per-subscriber "
                "values transformed, so few digests share a shape (see docs/templates.md)",
                self.inline_calls,
            )

    def _compile(self, html: str, node: _Node) -> list[assemble.Piece]:
        expected = Counter(int(m.group(1)) for m in self._value_token.finditer(node.key))
        return assemble.compile_shape(
            html, self._value_token, self._group, expected, len(node.groups)
        )

    def _group_html(self, group: list[_Call | _Runs]) -> list[assemble.Filled]:
        return [self._call_html(call) for call in group]

    def _call_html(self, call: _Call | _Runs) -> assemble.Filled:
        if isinstance(call, _Runs):
            return "".join(
                assemble.escape_text(run.text) if inner is None else self._part_html(inner).text
                for run, inner in zip(call.runs, call.calls, strict=True)
            )
        return self._part_html(call)

    def _part_html(self, call: _Call) -> encoding.Chunk:
        """A part's filled-in HTML, kept (with its encoding) when its arguments say what it
        depends on."""
        if call.html is not None:
            return call.html
        node = call.node
        assert node is not None and call.pieces is not None
        out: list[assemble.Filled] = []
        assemble.fill(call.pieces, node.values, [self._group_html(g) for g in node.groups], out)
        call.html = encoding.chunk(encoding.join(out))
        if call.cache_key is not None:
            self._html_parts.put(call.cache_key, (call.kwargs, call.html))
        return call.html

    # -- text -----------------------------------------------------------------------------

    def _text_part(self, name: str, **kwargs: Any) -> str:
        key = _part_key(name, kwargs)
        if key is not None:
            hit = self._text_parts.get(key)
            if hit is not None:
                return hit[1]
        template = environment.get_template(self._text_env, name)
        out = environment.render(template, self._run | kwargs | self._text_functions).strip("\n")
        if key is not None:
            self._text_parts.put(key, (kwargs, out))
        return out

    # -- checks -----------------------------------------------------------------------------

    def _validate(self, verify: bool) -> None:
        """Render the sample digest (every branch); an error in it is a template error."""
        digest, links = sample.sample()
        try:
            rendered = self._render_fast(digest, links)
        except errors.DigestRenderError as error:
            raise errors.TemplateError([error.problem]) from None
        except assemble.Unsupported as reason:
            self._fall_back(str(reason))
            return
        if verify:
            self._compare(digest, links, rendered)

    def _compare(self, digest: Digest, links: DigestLinks, rendered: RenderedDigest) -> None:
        reference = render_naive(self.settings, digest, links, envs=self._envs)
        if reference != rendered:
            self._fall_back("its output differs from the plain path's")

    def _fall_back(self, reason: str) -> None:
        log.warning(
            "fast rendering does not fit these templates (%s); rendering this run the slow "
            "way (see docs/templates.md)",
            reason,
        )
        self._naive = True


def _text_highlight(runs: Any, kind: str = "hl") -> str:
    """``highlight()`` in text templates: the runs' text, unmarked."""
    return "".join(str(run.text) for run in runs)


def _part_key(name: str, kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a part's output depends on, as a hashable key; None when it cannot be told.

    Cards and sections are keyed by the identity of their (cached) cards: cheap, and exact
    because the cache entry keeps the objects alive. A listed paper (one link, ~150 of
    them in a cut digest) is keyed by the link itself, without the general walk.
    """
    if len(kwargs) == 1:
        ((arg, value),) = kwargs.items()
        if type(value) is views.Link:
            return (name, arg, value)
    items: list[Any] = [name]
    for arg in sorted(kwargs):
        value = kwargs[arg]
        if isinstance(value, views.Card):
            items.append((arg, "card", id(value)))
        elif isinstance(value, views.SectionView):
            items.append(
                (
                    arg,
                    value.title,
                    value.count,
                    value.start,
                    value.trending,
                    tuple(map(id, value.cards)),
                )
            )
        elif value is None or isinstance(value, (str, int, float, views.Link)):
            items.append((arg, type(value) is bool, value))
        else:
            return None
    return tuple(items)
