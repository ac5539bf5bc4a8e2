"""The Jinja2 environment: loader chain for overrides, explicit autoescape, compact HTML.

``check_templates`` compiles and test-renders every template so a broken override is
reported as ``file:line: message`` by ``newsletter check``, not at send time.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import jinja2
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

from newsletter.render import textutil
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
HTML_SUFFIXES = (".html.j2", ".html", ".htm")

_LINE_BREAK_SPACE = re.compile(r"[ \t]*\n\s*")
_NEXT_TO_TAG = re.compile(r"(?<=>)[ \t]*\n\s*|[ \t]*\n\s*(?=<)|^[ \t]*\n\s*|[ \t]*\n\s*$")


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


def make_environment(settings: RenderSettings, *, html: bool) -> jinja2.Environment:
    """The environment both renderers use (the override folder first, then the defaults).

    HTML templates get compacted whitespace; text templates get ``trim_blocks`` and
    ``lstrip_blocks`` so block tags leave no blank lines behind.
    """
    loaders: list[jinja2.BaseLoader] = []
    if settings.template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(settings.template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(DEFAULT_TEMPLATE_DIR)))
    env = jinja2.Environment(
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
    return env


def template_path(env: jinja2.Environment, name: str) -> str:
    """The file a template name resolves to (override or default)."""
    try:
        _, filename, _ = env.loader.get_source(env, name) if env.loader else (None, name, None)
    except jinja2.TemplateNotFound:
        return name
    return filename or name


def describe_error(env: jinja2.Environment, error: BaseException, fallback: str) -> str:
    """``path:line: message`` for a template syntax or runtime error."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        path = error.filename or (template_path(env, error.name) if error.name else fallback)
        return f"{path}:{error.lineno}: {error.message}"
    # Runtime errors: the innermost traceback frame that belongs to a template file.
    where = f"{fallback}:1"
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename and frame.filename.endswith((".j2", ".html", ".txt", ".css")):
            where = f"{frame.filename}:{frame.lineno}"
    return f"{where}: {type(error).__name__}: {error}"


def list_templates(env: jinja2.Environment) -> list[str]:
    """Every template name visible through the loader chain."""
    return sorted(set(env.list_templates()))


def compile_errors(env: jinja2.Environment, *, html: bool) -> list[str]:
    """Syntax errors of the HTML (or the text) templates, as ``path:line: message``."""
    errors: list[str] = []
    for name in list_templates(env):
        if name.endswith(".txt.j2") == html:
            continue
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as error:
            errors.append(describe_error(env, error, template_path(env, name)))
        except (UnicodeDecodeError, OSError) as error:
            errors.append(f"{template_path(env, name)}:1: cannot read: {error}")
    return errors
