"""The straightforward renderer: one full Jinja2 render and one premailer pass per digest.

It is the reference the fast :class:`~newsletter.render.renderer.Renderer` must match byte
for byte, and the baseline of ``bench/render.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import jinja2
from markupsafe import Markup

from newsletter.records import Digest, RenderedDigest
from newsletter.render import context, environment, inline, views
from newsletter.render.settings import RenderSettings


def render_part_naive(env: jinja2.Environment, settings: RenderSettings, *, html: bool) -> Any:
    """The ``part()`` function templates call: render the named template with its arguments."""
    run = context.run_globals(settings)

    def part(name: str, **kwargs: Any) -> str:
        out = env.get_template(name).render(run | kwargs)
        return Markup(out) if html else out.strip("\n")

    return part


def render_naive(
    settings: RenderSettings,
    digest: Digest,
    *,
    unsubscribe_url: str,
    manage_url: str | None = None,
    envs: tuple[jinja2.Environment, jinja2.Environment] | None = None,
) -> RenderedDigest:
    """Render ``digest`` the slow, obvious way (full render + premailer per size-budget try)."""
    html_env, text_env = envs or (
        environment.make_environment(settings, html=True),
        environment.make_environment(settings, html=False),
    )
    values = context.subscriber_values(digest, unsubscribe_url, manage_url)
    items = digest.items
    html_part = render_part_naive(html_env, settings, html=True)
    pages: dict[views.Plan, str] = {}

    def fits(plan: views.Plan) -> bool:
        cards = [views.make_card(item, plan.limit) for item in items[: plan.shown]]
        page = context.page_context(settings, digest, plan, cards, values)
        raw = html_env.get_template(environment.SKELETON_HTML).render(page, part=html_part)
        pages[plan] = inline.inline_document(raw)
        return len(pages[plan].encode("utf-8")) <= settings.max_html_bytes

    chosen = views.choose_plan(len(items), fits)
    if chosen not in pages:
        fits(chosen)
    html = pages[chosen]
    cards = [views.make_card(item, chosen.limit) for item in items[: chosen.shown]]
    page = context.page_context(settings, digest, chosen, cards, values)
    text_part = render_part_naive(text_env, settings, html=False)
    text = text_env.get_template(environment.SKELETON_TEXT).render(page, part=text_part)
    return RenderedDigest(
        subject=context.subject(settings, digest), html=html, text=context.finish_text(text)
    )


def message_naive(
    settings: RenderSettings,
    digest: Digest,
    rendered: RenderedDigest,
    *,
    message_id: str,
    unsubscribe_url: str,
    date: datetime | None = None,
) -> bytes:
    """The obvious MIME build with :class:`email.message.EmailMessage` (benchmark baseline)."""
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = digest.subscriber.email
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes(policy=SMTP)
