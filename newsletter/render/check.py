"""``check_templates``: find template mistakes at ``newsletter check`` time, not at send time."""

from __future__ import annotations

from datetime import UTC, datetime

import jinja2

from newsletter.records import Digest, DigestItem, Entry, Section, Subscriber, Topic
from newsletter.render import environment
from newsletter.render.naive import render_naive
from newsletter.render.settings import RenderSettings


def sample_digest() -> Digest:
    """A small digest that exercises every template branch (links, lists, highlights)."""
    when = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    entry = Entry(
        key="arxiv:2401.00001",
        title="A sample paper about attention",
        link="https://arxiv.org/abs/2401.00001",
        published=when,
        abstract="We study attention. Code: https://github.com/example/sample.",
        authors=("A. Author", "B. Author", "C. Author", "D. Author", "E. Author"),
        categories=("cs.LG",),
        feeds=("arxiv",),
        popularity=3,
        arxiv_id="2401.00001",
        version=2,
    )
    topic = Topic(id="attention", title="Attention", query="attention")
    item = DigestItem(
        entry=entry,
        score=1.0,
        topics=("Attention",),
        title_spans=((23, 32),),
        abstract_spans=((9, 18),),
    )
    return Digest(
        subscriber=Subscriber(email="check@example.org", topics=(topic,), schedule="daily"),
        sections=(Section(topic=topic, items=(item,)),),
        created=when,
        updated=(entry,),
    )


def check_templates(settings: RenderSettings) -> list[str]:
    """Compile every template and render a sample digest; errors as ``path:line: message``."""
    errors: list[str] = []
    envs = (
        environment.make_environment(settings, html=True),
        environment.make_environment(settings, html=False),
    )
    for env, html in zip(envs, (True, False), strict=True):
        errors += environment.compile_errors(env, html=html)
    if errors:
        return sorted(set(errors))
    try:
        render_naive(
            settings,
            sample_digest(),
            unsubscribe_url="https://example.org/unsubscribe",
            manage_url="https://example.org/manage",
            envs=envs,
        )
    except jinja2.TemplateError as error:
        errors.append(environment.describe_error(envs[0], error, environment.SKELETON_HTML))
    except (TypeError, ValueError, AttributeError, KeyError) as error:
        errors.append(environment.describe_error(envs[0], error, environment.SKELETON_HTML))
    return errors
