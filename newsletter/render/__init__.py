"""Render digests: email-client-proof HTML, a plain-text twin and the MIME message.

``Renderer`` is the fast path (shared work done once per run); ``render_naive`` is the
obvious path it must match byte for byte; ``check_templates`` reports template errors as
``file:line: message``. Failures are a ``TemplateError`` (the templates are broken for
everyone: stop the run) or a ``DigestRenderError`` (this digest only; ``HeaderError`` is
one).
"""

from newsletter.render.check import check_templates
from newsletter.render.errors import DigestRenderError, TemplateError
from newsletter.render.mime import HeaderError
from newsletter.render.naive import render_naive
from newsletter.render.renderer import Renderer
from newsletter.render.settings import RenderConfigError, RenderSettings

__all__ = [
    "DigestRenderError",
    "HeaderError",
    "RenderConfigError",
    "RenderSettings",
    "Renderer",
    "TemplateError",
    "check_templates",
    "render_naive",
]
