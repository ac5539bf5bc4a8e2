"""Hostile feed items and odd (but valid) subscribers through the whole real pipeline.

A JSON Feed of generated items — random Unicode with lone surrogates, controls, bidi
overrides, very long strings, broken dates — is served by a real local HTTP server beside
a good feed, and ``send --dry-run`` then ``send`` (to a real aiosmtpd) run through the CLI.
Whatever the items hold: no exception escapes, the exit status is 0, and every subscriber
gets exactly one digest (one benign item in each generated feed matches their topic).
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.cli import main
from tests.conftest import MAIN_YAML, NOW, HttpFiles, Project, Sink, empty_tables
from tests.test_send import SECRET

HOSTILE_CHARS = st.characters(codec=None, exclude_categories=())  # surrogates included
TEXT = st.text(HOSTILE_CHARS, max_size=300) | st.builds(
    lambda s, n: s * n, st.text(HOSTILE_CHARS, min_size=1, max_size=5), st.integers(1, 4000)
)
BIDI = st.sampled_from(["\u202e", "\u2066", "\u2069", "\u200f", "\x00", "\x1b[2J", "\ud800"])
DATE = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["2026-11-25T10:00:00Z", "0000-00-00", "9999-99-99T99:99Z", "yesterday"]),
)


@st.composite
def hostile_item(draw: Any, index: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": draw(st.one_of(st.text(HOSTILE_CHARS, max_size=80), st.integers())),
        "title": draw(BIDI) + draw(TEXT) + draw(BIDI),
        "content_text": draw(TEXT),
    }
    if draw(st.booleans()):
        item["content_html"] = "<p>" + draw(TEXT) + "</b><script>x</script>"
    if draw(st.booleans()):
        item["url"] = draw(st.one_of(st.text(HOSTILE_CHARS, max_size=60), st.just("javascript:1")))
    if draw(st.booleans()):
        item["date_published"] = draw(DATE)
    if draw(st.booleans()):
        item["authors"] = [{"name": draw(TEXT)} for _ in range(draw(st.integers(0, 3)))]
    return item


BENIGN = {
    "id": "benign-zebra",
    "url": "https://example.org/zebra",
    "title": "A zebra study",
    "content_text": "Stripes.",
    "date_published": (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
}

NAMES = (
    st.text(
        st.characters(categories=("L", "N", "Zs", "So", "Pd"), exclude_characters="\u2028\u2029"),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
LOCALS = st.from_regex(r"[a-z0-9]{1,12}(\+[a-z0-9]{1,8})?", fullmatch=True)
DOMAINS = st.sampled_from(
    ["example.org", "bücher.example", "xn--80ak6aa92e.example", "EXAMPLE.net"]
)


@st.composite
def subscribers(draw: Any) -> list[tuple[str, str]]:
    count = draw(st.integers(1, 4))
    emails = draw(
        st.lists(
            st.builds(
                lambda i, local, domain: f"{local}{i}@{domain}", st.integers(0, 99), LOCALS, DOMAINS
            ),
            min_size=count,
            max_size=count,
            unique_by=str.lower,
        )
    )
    return [(email, draw(NAMES)) for email in emails]


def subscribers_yaml(people: list[tuple[str, str]]) -> str:
    lines = ["topics:", "  zebras:", "    title: Zebras", "    query: zebra", "subscribers:"]
    for email, name in people:
        lines += [
            f"  - email: {json.dumps(email)}",
            f"    name: {json.dumps(name, ensure_ascii=False)}",
            "    schedule: daily",
            "    topics: [zebras]",
        ]
    return "\n".join(lines) + "\n"


def fresh_state(project: Project) -> None:
    if project.database.startswith("postgresql"):
        empty_tables(project.database)
    else:
        shutil.rmtree(project.root / "config" / "state", ignore_errors=True)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=st.lists(hostile_item(), min_size=1, max_size=6), people=subscribers())
def test_hostile_items_and_odd_subscribers_never_stop_the_run(
    project: Project,
    http_files: HttpFiles,
    smtp_sink: Sink,
    items: list[dict[str, Any]],
    people: list[tuple[str, str]],
) -> None:
    fresh_state(project)
    smtp_sink.envelopes.clear()
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "hostile",
        "items": [*items, BENIGN],
    }
    http_files.files["/hostile.json"] = (json.dumps(feed).encode(), "application/feed+json")
    main_yaml = MAIN_YAML.replace(
        "feeds:\n",
        f"feeds:\n  - name: hostile\n    url: {http_files.base}/hostile.json\n",
    )
    project.write(main=main_yaml, subscribers=subscribers_yaml(people))
    project.env_file(
        SMTP_HOST=smtp_sink.host,
        SMTP_PORT=str(smtp_sink.port),
        SMTP_SECURITY="none",
        NEWSLETTER_SECRET=SECRET,
    )
    config = str(project.config)
    out = project.root / "dry"
    assert (
        main(["send", "--dry-run", "--out", str(out), "--config", config], clock=lambda: NOW) == 0
    )
    assert len(list(out.glob("*.eml"))) == len(people)
    assert main(["send", "--no-fetch", "--config", config], clock=lambda: NOW) == 0
    got = sorted(r.lower() for r in smtp_sink.recipients())
    assert len(got) == len(people) and len(set(got)) == len(people)
    for envelope in smtp_sink.envelopes:
        message = message_from_bytes(envelope.content, policy=policy.default)
        text = message.get_body(("plain",))
        assert text is not None and "zebra" in str(text.get_content()).lower()


@pytest.mark.sqlite_only
def test_a_surrogate_in_one_feed_costs_nothing_and_the_next_feed_is_stored(
    project: Project, http_files: HttpFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 §1: listed first, a JSON Feed item with a lone surrogate used to crash
    `fetch` before the good feed was stored."""
    bad = (
        '{"version": "https://jsonfeed.org/version/1", "title": "x", "items": ['
        '{"id": "1", "title": "bad \\ud800 title", "url": "https://e.org/1",'
        ' "content_text": "zebra \\udfff"}]}'
    )
    http_files.files["/bad.json"] = (bad.encode(), "application/feed+json")
    main_yaml = MAIN_YAML.replace(
        "feeds:\n", f"feeds:\n  - name: bad\n    url: {http_files.base}/bad.json\n"
    )
    project.write(main=main_yaml)
    assert main(["fetch", "--config", str(project.config)], clock=lambda: NOW) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out and "ERROR" not in out
    assert (
        main(["match", "zebra", "--json", "--config", str(project.config)], clock=lambda: NOW) == 0
    )
    (row,) = json.loads(capsys.readouterr().out)
    assert row["title"] == "bad \ufffd title"
    assert (
        main(["match", "self-supervised", "--config", str(project.config)], clock=lambda: NOW) == 0
    )
    assert "entries match" in capsys.readouterr().out  # the good feed, listed second, is stored
    assert Path(project.config).exists()
