"""Template overrides (one file at a time) and check_templates' file:line errors."""

from __future__ import annotations

from pathlib import Path

import test_render_support as support

from newsletter.render import Renderer, check_templates, render_naive


def test_override_replaces_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "_card.html.j2").write_text(
        '<table role="presentation" class="card"><tr><td class="card-cell">'
        '<p class="paper-title">{{ card.title }} [custom]</p></td></tr></table>\n',
        encoding="utf-8",
    )
    settings = support.settings(template_dir=tmp_path)
    assert check_templates(settings) == []
    digest = support.digest(3, start=30)
    fast = Renderer(settings, verify=False).render(digest, unsubscribe_url=support.UNSUBSCRIBE)
    assert fast.html.count("[custom]") == 3
    assert "12 new papers" not in fast.html and "3 new papers for your 3 topics" in fast.html
    assert fast == render_naive(settings, digest, unsubscribe_url=support.UNSUBSCRIBE)


def test_override_is_autoescaped(tmp_path: Path) -> None:
    (tmp_path / "_card.html.j2").write_text(
        "<table><tr><td>{{ card.title }}</td></tr></table>", encoding="utf-8"
    )
    entry = support.entry(1, title="<b>bold</b> & co")
    out = Renderer(support.settings(template_dir=tmp_path), verify=False).render(
        support.digest(entries=[entry]), unsubscribe_url=support.UNSUBSCRIBE
    )
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in out.html


def test_syntax_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "_section.html.j2"
    path.write_text("<table>\n<tr><td>\n{% if section.title %}\n</td></tr>\n", encoding="utf-8")
    errors = check_templates(support.settings(template_dir=tmp_path))
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:")
    line = int(errors[0].split(":")[1])
    assert line >= 3 and "endif" in errors[0]


def test_runtime_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "digest.txt.j2"
    path.write_text("{{ title }}\n\n{{ no_such_variable }}\n", encoding="utf-8")
    errors = check_templates(support.settings(template_dir=tmp_path))
    assert errors == [f"{path}:3: UndefinedError: 'no_such_variable' is undefined"]


def test_fast_path_falls_back_when_an_override_transforms_subscriber_values(
    tmp_path: Path,
) -> None:
    source = (Path(__file__).parents[1] / "templates" / "digest.html.j2").read_text()
    (tmp_path / "digest.html.j2").write_text(
        source.replace("{{ subscriber_email }}", "{{ subscriber_email|upper }}"),
        encoding="utf-8",
    )
    settings = support.settings(template_dir=tmp_path)
    digest = support.digest(2)
    renderer = Renderer(settings)
    out = renderer.render(digest, unsubscribe_url=support.UNSUBSCRIBE)
    assert "READER@EXAMPLE.COM" in out.html
    assert out == render_naive(settings, digest, unsubscribe_url=support.UNSUBSCRIBE)
