"""``check_templates``: find template mistakes at ``newsletter check`` time, not at send time."""

from __future__ import annotations

from dataclasses import replace

from newsletter.render import errors, sample
from newsletter.render.renderer import Renderer
from newsletter.render.settings import RenderSettings

SAMPLE_FOOTER = "Sample Newsletter\n1 Example Street, 12345 Exampletown"
CHECK_BUDGET = 10_000
"""The smallest budget allowed: the overflowing sample exceeds it, so the "listed by title"
branch runs too."""


def check_templates(settings: RenderSettings) -> list[str]:
    """Load every template and render the sample digests through every branch (the footer
    line, the view link, a cut, a trending section, papers listed by title…); problems as
    ``path:line: message``, none when all is well."""
    settings = replace(
        settings, footer=settings.footer or SAMPLE_FOOTER, max_html_bytes=CHECK_BUDGET
    )
    try:
        renderer = Renderer(settings, verify=False)
        for digest, links in (sample.bare(), sample.overflowing()):
            renderer.render(digest, links)
    except errors.TemplateError as error:
        return error.problems
    except errors.DigestRenderError as error:
        return [error.problem]
    return []
