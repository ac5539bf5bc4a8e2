"""The straightforward renderer: one full Jinja2 render and one premailer pass per digest.

It is the reference the fast :class:`~newsletter.render.renderer.Renderer` must match byte
for byte, and the baseline of ``bench/render.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import jinja2
from markupsafe import Markup, escape

from newsletter.records import Digest, DigestLinks, RenderedDigest
from newsletter.render import context, encoding, environment, inline, views
from newsletter.render.settings import RenderSettings


def template_functions(
    env: jinja2.Environment, settings: RenderSettings, *, html: bool
) -> dict[str, Any]:
    """``part()`` and ``highlight()`` as templates call them, rendering for real."""
    run = context.run_globals(settings)

    def part(name: str, **kwargs: Any) -> str:
        template = environment.get_template(env, name)
        out = environment.render(template, run | kwargs | functions)
        return Markup(out) if html else out.strip("\n")

    def highlight(runs: Iterable[views.Run], kind: str = "hl") -> str:
        if not html:
            return "".join(str(run.text) for run in runs)
        return Markup("").join(
            part(environment.HIGHLIGHT_HTML, text=run.text, kind=kind)
            if run.marked
            else escape(run.text)
            for run in runs
        )

    functions = {"part": environment.Trusted(part), "highlight": environment.Trusted(highlight)}
    return functions


def render_naive(
    settings: RenderSettings,
    digest: Digest,
    links: DigestLinks,
    *,
    envs: tuple[jinja2.Environment, jinja2.Environment] | None = None,
) -> RenderedDigest:
    """Render ``digest`` the slow, obvious way (full render + premailer per size-budget try)."""
    html_env, text_env = envs or (
        environment.make_environment(settings, html=True),
        environment.make_environment(settings, html=False),
    )
    skeleton_html = environment.get_template(html_env, environment.SKELETON_HTML)
    skeleton_text = environment.get_template(text_env, environment.SKELETON_TEXT)
    values = context.subscriber_values(digest, links)
    items = digest.items
    html_functions = template_functions(html_env, settings, html=True)
    pages: dict[views.Plan, tuple[dict[str, Any], str, bytes]] = {}

    def fits(plan: views.Plan) -> bool:
        cards = [views.make_card(item, plan.limit) for item in items[: plan.shown]]
        page = context.page_context(settings, digest, plan, cards, values)
        raw = environment.render(skeleton_html, page | html_functions)
        html = inline.break_lines(inline.inline_document(raw))
        pages[plan] = (page, html, encoding.encode_part(html))
        return len(pages[plan][2]) <= settings.max_html_bytes

    chosen = views.choose_plan(len(items), fits)
    if chosen not in pages:
        fits(chosen)
    page, html, html_qp = pages[chosen]
    text_functions = template_functions(text_env, settings, html=False)
    text = context.finish_text(environment.render(skeleton_text, page | text_functions))
    return RenderedDigest(
        subject=context.subject(settings, digest),
        html=html,
        text=text,
        html_qp=html_qp,
        text_qp=encoding.encode_part(text),
        links=links,
    )


def message_naive(
    settings: RenderSettings,
    digest: Digest,
    rendered: RenderedDigest,
    *,
    message_id: str,
    date: datetime | None = None,
) -> bytes:
    """The obvious MIME build with :class:`email.message.EmailMessage` (benchmark baseline)."""
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = digest.subscriber.email
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg["List-Unsubscribe"] = f"<{rendered.links.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if rendered.links.view_url:
        msg["Archived-At"] = f"<{rendered.links.view_url}>"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes(policy=SMTP)
