"""Template overrides (one file at a time), the sandbox, and how template mistakes surface:
``check`` as ``file:line: message``, a :class:`TemplateError` before any digest when the
templates are broken for everyone, a :class:`DigestRenderError` when one digest's data is."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import test_render_support as support

from newsletter.cli import main
from newsletter.render import (
    DigestRenderError,
    Renderer,
    TemplateError,
    check_templates,
    render_naive,
)
from tests.conftest import MAIN_YAML, Project

DEFAULTS = Path(__file__).parents[1] / "templates"


def override(folder: Path, name: str, old: str, new: str) -> Path:
    """Copy a built-in template into ``folder`` with ``old`` replaced by ``new``."""
    source = (DEFAULTS / name).read_text(encoding="utf-8")
    assert old in source
    path = folder / name
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path


def test_override_replaces_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "_card.html.j2").write_text(
        '<table role="presentation" class="card"><tr><td class="card-cell">'
        '<p class="paper-title">{{ card.title }} [custom]</p></td></tr></table>\n',
        encoding="utf-8",
    )
    settings = support.settings(template_dir=tmp_path)
    assert check_templates(settings) == []
    digest = support.digest(3, start=30)
    fast = Renderer(settings, verify=False).render(digest, support.LINKS)
    assert fast.html.count("[custom]") == 3
    assert "12 new papers" not in fast.html and "3 new papers for your 3 topics" in fast.html
    assert fast == render_naive(settings, digest, support.LINKS)


def test_override_is_autoescaped(tmp_path: Path) -> None:
    (tmp_path / "_card.html.j2").write_text(
        "<table><tr><td>{{ card.title }}</td></tr></table>", encoding="utf-8"
    )
    entry = support.entry(1, title="<b>bold</b> & co")
    out = Renderer(support.settings(template_dir=tmp_path), verify=False).render(
        support.digest(entries=[entry]), support.LINKS
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


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
            "SecurityError: access to attribute '__init__' of 'type' object is unsafe.",
        ),
        ("{{ card.__class__.__mro__ }}", "SecurityError"),
        ("{% set seen = [] %}{{ seen.append(1) }}", "SecurityError"),
        ("{{ 1/0 }}", "ZeroDivisionError: division by zero"),
        ("{{ no_such_function() }}", "UndefinedError: 'no_such_function' is undefined"),
    ],
)
def test_a_template_broken_for_everyone_stops_before_any_digest(
    tmp_path: Path, expression: str, message: str
) -> None:
    path = override(tmp_path, "_card.html.j2", "<h3 class", f"{expression}<h3 class")
    expected = f"{path}:8: {message}"
    problems = check_templates(support.settings(template_dir=tmp_path))
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    with pytest.raises(TemplateError) as raised:
        Renderer(support.settings(template_dir=tmp_path))
    assert raised.value.problems == problems


def test_check_takes_branches_a_run_may_not(tmp_path: Path) -> None:
    """The footer line and the papers listed by title only appear with some settings and
    digests; check renders them anyway, while building a renderer does not fail on them."""
    path = override(
        tmp_path,
        "digest.html.j2",
        "{% if footer_lines %}",
        "{% if footer_lines %}{{ footer.nope() }}",
    )
    problems = check_templates(support.settings(template_dir=tmp_path))
    assert len(problems) == 1 and problems[0].startswith(f"{path}:"), problems
    Renderer(support.settings(template_dir=tmp_path))  # no footer configured
    override(
        tmp_path,
        "digest.html.j2",
        "{% for link in more %}",
        "{% for link in more %}{{ more_count / link.title }}",
    )
    problems = check_templates(support.settings(template_dir=tmp_path))
    assert len(problems) == 1, problems
    assert "TypeError: unsupported operand type(s) for /: 'int' and 'str'" in problems[0]
    Renderer(support.settings(template_dir=tmp_path))  # the sample lists no titles


def test_one_digests_data_fails_only_that_digest(tmp_path: Path) -> None:
    override(
        tmp_path,
        "_card.html.j2",
        "<h3 class",
        "{% if card.upvotes is not none %}<p>{{ 1000 // card.upvotes }}‰</p>{% endif %}<h3 class",
    )
    renderer = Renderer(support.settings(template_dir=tmp_path))
    zero = support.digest(entries=[support.entry(3, popularity=0)], email="zero@example.org")
    with pytest.raises(DigestRenderError) as raised:
        renderer.render(zero, support.LINKS)
    assert raised.value.subscriber == "zero@example.org"
    assert raised.value.problem.startswith(f"{tmp_path / '_card.html.j2'}:8: ZeroDivisionError")
    fine = renderer.render(support.digest(2), support.LINKS)
    assert "<p>100‰</p>" in fine.html  # popularity 10


def test_a_sandbox_violation_on_a_rare_branch_is_still_a_template_error(tmp_path: Path) -> None:
    override(
        tmp_path,
        "_card.html.j2",
        "<h3 class",
        "{% if card.upvotes is not none and card.upvotes > 1000 %}{{ card.__class__ }}"
        "{% endif %}<h3 class",
    )
    renderer = Renderer(support.settings(template_dir=tmp_path))
    viral = support.digest(entries=[support.entry(3, popularity=5000)])
    with pytest.raises(TemplateError):
        renderer.render(viral, support.LINKS)


def test_unreadable_template_folders_are_clean_problems(tmp_path: Path) -> None:
    latin = tmp_path / "_card.html.j2"
    latin.write_bytes("<p>{{ card.title }} – café</p>".encode("latin-1", "replace"))
    problems = check_templates(support.settings(template_dir=tmp_path))
    assert problems and problems[0].startswith(f"{latin}:1: not UTF-8"), problems
    with pytest.raises(TemplateError):
        Renderer(support.settings(template_dir=tmp_path))

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (junk / "blob.bin").write_bytes(bytes(range(256)))
    problems = check_templates(support.settings(template_dir=junk))
    assert problems == [
        f"{junk}:1: no templates (*.j2) in this folder — point templates: at a folder holding "
        "your changed copies of files from the built-in templates/ folder"
    ]


@pytest.mark.skipif(any(Path("/etc").glob("*.j2")), reason="this /etc holds templates")
def test_templates_pointing_at_etc_is_a_problem_not_a_traceback() -> None:
    problems = check_templates(support.settings(template_dir=Path("/etc")))
    assert len(problems) == 1 and problems[0].startswith("/etc:1: no templates")


def test_transformed_values_stay_on_the_fast_path(tmp_path: Path) -> None:
    override(tmp_path, "digest.html.j2", "{{ subscriber_email }}", "{{ subscriber_email|upper }}")
    settings = support.settings(template_dir=tmp_path)
    renderer = Renderer(settings)
    digest = support.digest(2)
    out = renderer.render(digest, support.LINKS)
    assert "READER@EXAMPLE.COM" in out.html
    assert out == render_naive(settings, digest, support.LINKS)
    assert not renderer._naive


def test_falls_back_when_an_override_puts_a_value_where_it_cannot_be_filled_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A per-subscriber value in a class attribute decides which CSS rules apply: the shape
    cannot be inlined once for everyone, so the run renders the plain way (same bytes)."""
    override(
        tmp_path,
        "_section.html.j2",
        '<td class="section-cell">',
        '<td class="section-cell s-{{ section.title }}">',
    )
    settings = support.settings(template_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        renderer = Renderer(settings)
    assert renderer._naive and "rendering this run the slow way" in caplog.text
    digest = support.digest(4)
    assert renderer.render(digest, support.LINKS) == render_naive(settings, digest, support.LINKS)


@pytest.mark.sqlite_only
def test_send_stops_before_any_digest_when_a_template_is_broken(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project.root / "config" / "tpl"
    folder.mkdir()
    path = override(folder, "_card.html.j2", "<h3 class", "{{ cycler.__init__ }}<h3 class")
    project.write(MAIN_YAML + "templates: tpl\n")
    out = project.root / "previews"
    code = main(["send", "--dry-run", "--out", str(out), "--config", str(project.config)])
    assert code == 2
    assert (
        "_card.html.j2:8: SecurityError: access to attribute '__init__'" in capsys.readouterr().err
    )
    assert not out.exists() or not any(out.iterdir()), "nothing rendered, nothing written"
    assert path.exists()
