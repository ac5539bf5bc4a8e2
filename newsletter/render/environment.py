"""The Jinja2 environment: sandboxed, overrides first, explicit autoescape, compact HTML.

Templates run in Jinja2's ``ImmutableSandboxedEnvironment`` — the built-in ones and the
overrides alike — so an override cannot reach Python internals
(``cycler.__init__.__globals__``) or mutate the values it is given. Every template render
goes through :func:`render`, which sorts failures into a :class:`TemplateError` (the
templates are broken for everyone) or a :class:`DigestRenderError` (this digest's data
trips a template).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

from newsletter.render import errors, holes, textutil, views
from newsletter.render.settings import RenderSettings


def _default_template_dir() -> Path:
    """The repository's top-level ``templates/`` (a checkout or an editable install), else
    the copy a regular install puts in ``<prefix>/share/newsletter/templates``."""
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if (checkout / "digest.html.j2").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "newsletter" / "templates"


DEFAULT_TEMPLATE_DIR = _default_template_dir()
"""The built-in templates (the top-level ``templates/`` folder of the project)."""

SKELETON_HTML = "digest.html.j2"
SKELETON_TEXT = "digest.txt.j2"
HIGHLIGHT_HTML = "_highlight.html.j2"
HTML_SUFFIXES = (".html.j2", ".html", ".htm")
TEMPLATE_GLOB = "*.j2"
"""Files of a ``templates:`` folder that are templates; anything else there is ignored."""

_LINE_BREAK_SPACE = re.compile(r"[ \t]*\n\s*")
_NEXT_TO_TAG = re.compile(r"(?<=>)[ \t]*\n\s*|[ \t]*\n\s*(?=<)|^[ \t]*\n\s*|[ \t]*\n\s*$")
_TEMPLATE_LEVEL = (
    jinja2.exceptions.SecurityError,
    jinja2.TemplateSyntaxError,
    jinja2.TemplateNotFound,
    UnicodeDecodeError,
)
"""Errors no subscriber's data can cause: the templates themselves are wrong."""


def is_html(name: str | None) -> bool:
    """Autoescape decision by file name: ``select_autoescape()`` misses ``.html.j2``."""
    return name is not None and name.endswith(HTML_SUFFIXES)


class CompactHtml(Extension):
    """Drop indentation from the static text of HTML templates.

    A run of whitespace containing a line break disappears next to a tag or a Jinja tag and
    becomes one space elsewhere. Templates stay readable, the mail gets smaller, and no
    whitespace text sits between a paper card and its neighbours (so a card inlined on its
    own is byte-for-byte what it is inside the whole page). Line numbers are untouched.
    """

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        html = is_html(stream.name)
        for token in stream:
            if html and token.type == "data":
                value = _NEXT_TO_TAG.sub("", token.value)
                value = _LINE_BREAK_SPACE.sub(" ", value)
                yield Token(token.lineno, token.type, value)
            else:
                yield token


def underline(text: str, char: str = "=") -> str:
    """A text heading's underline, as long as the heading."""
    return char * min(max((len(line) for line in text.splitlines()), default=0), 78)


def wrap_filter(
    text: str, width: int = 78, indent: str = "", first_indent: str | None = None
) -> str:
    """Jinja filter: word wrap that never breaks URLs (see :func:`textutil.wrap`)."""
    return "\n".join(textutil.wrap(text, width, indent, first_indent))


def _on_text(name: str) -> Any:
    """A built-in filter that reads its value as markup, given the text behind a hole."""
    original = jinja2.filters.FILTERS[name]

    def filter_(value: Any, *args: Any, **kwargs: Any) -> Any:
        return original(holes.plain(value), *args, **kwargs)

    return filter_


@jinja2.pass_eval_context
def _urlize(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
    return jinja2.filters.do_urlize(context, holes.plain(value), *args, **kwargs)


class Trusted:
    """A function the renderer hands templates (``part``, ``highlight``)."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


class DigestSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox, with shortcuts for what templates do most.

    A field of a card, run, link or section is data the renderer built (strings, numbers,
    tuples of those), and ``part``/``highlight`` are the renderer's own functions: reading
    the one and calling the other need none of the generic checks, which otherwise cost
    more than the rest of a card's rendering. Everything else goes through the sandbox.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        fields = _PLAIN_FIELDS.get(type(obj))
        if fields is not None and attribute in fields:
            return _getattr(obj, attribute)
        return super().getattr(obj, attribute)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if type(obj) is Trusted:
            kwargs.pop("_loop_vars", None)  # what Context.call drops for plain functions
            kwargs.pop("_block_vars", None)
            return obj.function(*args, **kwargs)
        return super().call(context, obj, *args, **kwargs)


_getattr = getattr
_PLAIN_FIELDS = views.VIEW_FIELDS | {
    jinja2.runtime.LoopContext: frozenset(
        [
            "index",
            "index0",
            "revindex",
            "revindex0",
            "first",
            "last",
            "length",
            "depth",
            "depth0",
            "previtem",
            "nextitem",
        ]
    )
}
"""Attributes read without the sandbox's checks: view record fields and ``loop.*``."""


def make_environment(settings: RenderSettings, *, html: bool) -> jinja2.Environment:
    """The sandboxed environment both renderers use (the override folder, then the defaults).

    HTML templates get compacted whitespace; text templates get ``trim_blocks`` and
    ``lstrip_blocks`` so block tags leave no blank lines behind.
    """
    loaders: list[jinja2.BaseLoader] = []
    if settings.template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(settings.template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(DEFAULT_TEMPLATE_DIR)))
    env = DigestSandbox(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=is_html,
        undefined=jinja2.StrictUndefined,
        extensions=[CompactHtml] if html else [],
        trim_blocks=not html,
        lstrip_blocks=not html,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters["underline"] = underline
    env.filters["wrap"] = wrap_filter
    for name in ("safe", "striptags"):
        env.filters[name] = _on_text(name)
    env.filters["urlize"] = _urlize
    return env


def template_path(env: jinja2.Environment, name: str) -> str:
    """The file a template name resolves to (override or default)."""
    for loader in getattr(env.loader, "loaders", ()):
        for folder in getattr(loader, "searchpath", ()):
            path = Path(folder) / name
            if path.is_file():
                return str(path)
    return name


def describe(env: jinja2.Environment, error: BaseException, fallback: str) -> str:
    """``path:line: message`` for a template syntax or runtime error."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        path = error.filename or (template_path(env, error.name) if error.name else fallback)
        return f"{path}:{error.lineno}: {error.message}"
    if isinstance(error, UnicodeDecodeError):
        return f"{fallback}:1: not UTF-8 ({error.reason} at byte {error.start}) — save it as UTF-8"
    if isinstance(error, jinja2.TemplateNotFound):
        return f"{errors.where(error, fallback)}: no template named {error.name!r}"
    return errors.describe(error, fallback)


def get_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """Load a template; any failure is a :class:`TemplateError` naming the file."""
    try:
        return env.get_template(name)
    except _TEMPLATE_LEVEL as error:
        raise errors.TemplateError([describe(env, error, template_path(env, name))]) from None
    except OSError as error:
        problem = f"{template_path(env, name)}:1: cannot read: {error.strerror or error}"
        raise errors.TemplateError([problem]) from None


def render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render ``template``; a failure becomes a :class:`TemplateError` when no data can cause
    it, else a :class:`DigestRenderError` (errors from nested parts pass through as they are).
    """
    try:
        return template.render(context)
    except (errors.TemplateError, errors.DigestRenderError):
        raise
    except _TEMPLATE_LEVEL as error:
        fallback = template.filename or template.name or "template"
        env = template.environment
        raise errors.TemplateError([describe(env, error, fallback)]) from None
    except Exception as error:
        fallback = template.filename or template.name or "template"
        raise errors.DigestRenderError(errors.describe(error, fallback)) from error


def template_names(settings: RenderSettings) -> list[str]:
    """Every template name (``*.j2``) in the override folder and the built-in folder."""
    names = {p.name for p in DEFAULT_TEMPLATE_DIR.glob(TEMPLATE_GLOB)}
    if settings.template_dir is not None:
        names |= {p.name for p in Path(settings.template_dir).glob(TEMPLATE_GLOB)}
    return sorted(names)


def compile_problems(
    settings: RenderSettings, envs: tuple[jinja2.Environment, jinja2.Environment]
) -> list[str]:
    """Problems loading or compiling any template, as ``path:line: message``."""
    problems: list[str] = []
    folder = settings.template_dir
    if folder is not None and not any(Path(folder).glob(TEMPLATE_GLOB)):
        problems.append(
            f"{folder}:1: no templates (*.j2) in this folder — point templates: at a folder "
            "holding your changed copies of files from the built-in templates/ folder"
        )
    for name in template_names(settings):
        env = envs[0] if is_html(name) or not name.endswith(".txt.j2") else envs[1]
        try:
            get_template(env, name)
        except errors.TemplateError as error:
            problems += error.problems
    return problems
