"""The web pages' templates: files in ``newsletter/web/templates``, rendered by a sandboxed,
autoescaping Jinja2 environment.

Sandboxed because a page shows text from feeds and visitors; autoescaped so none of it
becomes markup. The one stylesheet is inlined in ``<style>`` and allowed by its hash in
the Content-Security-Policy, so pages need no ``'unsafe-inline'`` and run no script.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from newsletter.render.views import Run
from newsletter.store.records import ArchivedMatch
from newsletter.web.papers import Paper

VIEWS: frozenset[type] = frozenset({Paper, Run, ArchivedMatch})
"""Frozen records of plain data the pages read: their public fields are always safe."""


class PageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, minus its per-access checks on the view records (a day page reads
    some 30,000 of their fields); everything else is checked as usual."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in VIEWS and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


@cache
def environment() -> ImmutableSandboxedEnvironment:
    env = PageEnvironment(
        loader=PackageLoader("newsletter.web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    env.globals["stylesheet"] = Markup(stylesheet())
    return env


@cache
def stylesheet() -> str:
    """The site's CSS, exactly as it appears between ``<style>`` and ``</style>``."""
    return resources.files("newsletter.web").joinpath("templates/site.css").read_text("utf-8")


@cache
def style_hash() -> str:
    """The CSP source that allows the inlined stylesheet and nothing else."""
    digest = hashlib.sha256(stylesheet().encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render(name: str, **context: Any) -> str:
    """Render ``templates/<name>``; every value is escaped unless it is already Markup."""
    return environment().get_template(name).render(**context)
