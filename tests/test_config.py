"""Every class of bad configuration exits 2 with `file:line: problem — fix`, never a traceback."""

from __future__ import annotations

import re

import pytest

from newsletter.cli import main
from newsletter.config import ConfigError, load_config, read_environment
from tests.conftest import MAIN_YAML, NOW, SUBSCRIBERS_YAML, Project


def run_check(project: Project, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", "--config", str(project.config)], clock=lambda: NOW)
    captured = capsys.readouterr()
    return code, captured.err


def test_bundled_style_config_is_valid(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--config", str(project.config)], clock=lambda: NOW)
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    assert "OK — 1 feeds, 1 schedules, 3 subscribers, 3 distinct topics" in captured.out


def test_bundled_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "config" / "newsletter.yaml")
    assert len(config.subscribers) == 4
    assert len({t.id for s in config.subscribers for t in s.topics}) >= 4


CASES = [
    # (what, file, replace in that file (old, new), expected line, expected text)
    ("yaml syntax", "main", ("sender: Test", "sender: a: Test"), 2, "YAML syntax error"),
    (
        "unknown key",
        "main",
        ("digest:\n", "digets:\n  x: 1\ndigest:\n"),
        10,
        "unknown key 'digets'",
    ),
    ("missing field", "main", ("sender: Test Digest <digest@example.org>\n", ""), None, "sender"),
    (
        "invalid email",
        "subs",
        ("alice@example.org", "alice-at-example.org"),
        9,
        "not a valid email",
    ),
    (
        "unknown schedule",
        "subs",
        ("schedule: daily\n    topics: [speech]", "schedule: hourly\n    topics: [speech]"),
        14,
        "unknown schedule 'hourly'",
    ),
    (
        "unknown topic",
        "subs",
        ("topics: [speech]", "topics: [speach]"),
        15,
        "unknown topic id 'speach'",
    ),
    ("bad cron", "main", ('daily: "0 7 * * *"', 'daily: "0 25 * * *"'), 9, "bad cron expression"),
    ("cron fields", "main", ('daily: "0 7 * * *"', 'daily: "every day"'), 9, "5-field cron"),
    (
        "bad query",
        "subs",
        (
            'query: self-supervised OR "contrastive learning"',
            "query: self-supervised OR (contrastive",
        ),
        4,
        "bad topic query",
    ),
    ("bad sender", "main", ("Test Digest <digest@example.org>", "Test Digest"), 2, "RFC 5322"),
    (
        "bad base_url",
        "main",
        ("https://digest.example.org/news", "digest.example.org"),
        3,
        "absolute http(s) URL",
    ),
    (
        "bad timezone",
        "subs",
        ("    name: Alice Example\n", "    name: Alice\n    timezone: Mars/Base\n"),
        11,
        "unknown time zone",
    ),
    ("wrong type", "main", ("max_items: 25", "max_items: lots"), 11, "max_items"),
]


@pytest.mark.parametrize(
    ("what", "which", "change", "line", "text"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_config_reports_file_line_and_exits_2(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    what: str,
    which: str,
    change: tuple[str, str],
    line: int | None,
    text: str,
) -> None:
    main_yaml, subs_yaml = MAIN_YAML, SUBSCRIBERS_YAML
    if which == "main":
        assert change[0] in main_yaml
        main_yaml = main_yaml.replace(change[0], change[1], 1)
    else:
        assert change[0] in subs_yaml
        subs_yaml = subs_yaml.replace(change[0], change[1], 1)
    project.write(main_yaml, subs_yaml)
    code, err = run_check(project, capsys)
    assert code == 2
    assert "Traceback" not in err
    filename = "config/newsletter.yaml" if which == "main" else "config/subscribers.yaml"
    prefix = f"{filename}:{line}: " if line else f"{filename}:"
    first = [ln for ln in err.splitlines() if ln.startswith(prefix) and text in ln]
    assert first, err
    if line:
        assert re.match(rf"^{re.escape(filename)}:\d+: ", first[0])


def test_bad_query_shows_a_caret_under_the_column(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(subscribers=SUBSCRIBERS_YAML.replace('OR "contrastive learning"', "OR OR x"))
    code, err = run_check(project, capsys)
    assert code == 2
    lines = err.splitlines()
    caret = next(i for i, ln in enumerate(lines) if ln.strip() == "^")
    query_line = lines[caret - 1]
    assert "self-supervised OR OR x" in query_line
    column = lines[caret].index("^") - query_line.index("self-supervised")
    assert "self-supervised OR OR x"[column:].startswith("OR x")


def test_all_problems_are_reported_at_once(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = SUBSCRIBERS_YAML.replace("topics: [ssl]", "topics: [nope]").replace(
        "bob@example.org", "bob"
    )
    project.write(subscribers=subs)
    code, err = run_check(project, capsys)
    assert code == 2
    assert "unknown topic id 'nope'" in err and "not a valid email" in err


def test_missing_config_file_is_a_message(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--config", "config/nope.yaml"], clock=lambda: NOW)
    err = capsys.readouterr().err
    assert code == 2
    assert "config/nope.yaml: file not found" in err


def test_config_option_before_and_after_the_command(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = str(project.root / "missing.yaml")
    assert main(["--config", str(project.config), "check"], clock=lambda: NOW) == 0
    assert main(["check", "--config", str(project.config)], clock=lambda: NOW) == 0
    # After the command wins over before it, and both win over NEWSLETTER_CONFIG.
    assert main(["--config", str(project.config), "check", "--config", bad], clock=lambda: NOW) == 2
    project.env_file(NEWSLETTER_CONFIG=bad)
    assert main(["check"], clock=lambda: NOW) == 2
    assert main(["--config", str(project.config), "check"], clock=lambda: NOW) == 0
    capsys.readouterr()


def test_real_send_without_smtp_host_names_the_variable(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["send", "--config", str(project.config), "--no-fetch"], clock=lambda: NOW)
    err = capsys.readouterr().err
    assert code == 2
    assert "SMTP_HOST is not set" in err


def test_environment_beats_dotenv_and_bad_values_are_reported(project: Project) -> None:
    env_file = project.env_file(SMTP_HOST="from-file", SMTP_PORT="2525", SMTP_SECURITY="ssl")
    env = read_environment(env_file, environ={"SMTP_HOST": "from-env"})
    assert env.smtp is not None
    assert (env.smtp.host, env.smtp.port, env.smtp.security) == ("from-env", 2525, "ssl")
    bad = project.env_file(SMTP_HOST="x", SMTP_PORT="lots")
    with pytest.raises(ConfigError) as caught:
        read_environment(bad, environ={})
    assert str(caught.value.problems[0]).startswith(".env:2: SMTP_PORT='lots'")


@pytest.mark.sqlite_only
def test_relative_paths_are_relative_to_the_config_file(project: Project) -> None:
    config = load_config(project.config)
    assert config.database_url == f"sqlite:///{(project.root / 'config/state/test.db').resolve()}"
    assert config.subscribers_path == project.root / "config" / "subscribers.yaml"


def test_about_topics_without_the_semantic_extra_name_the_extra(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from newsletter.match.semantic import semantic_available

    if semantic_available():
        pytest.skip("the semantic extra is installed here; this checks the message without it")
    subs = SUBSCRIBERS_YAML.replace(
        "    query: speech AND (synthesis OR TTS OR generation)\n",
        "    about: turning text into natural-sounding speech\n",
    )
    project.write(subscribers=subs)
    code, err = run_check(project, capsys)
    assert code == 2
    assert "config/subscribers.yaml:7: topics with 'about:' need the 'semantic' extra" in err
    assert "pip install 'newsletter[semantic]'" in err


@pytest.mark.sqlite_only
def test_the_placeholder_secret_from_env_example_is_refused_with_the_fix(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    placeholder = "change-me-to-a-long-random-string"
    project.env_file(NEWSLETTER_SECRET=placeholder)
    assert main(["check", "--config", str(project.config)], clock=lambda: NOW) == 2
    err = capsys.readouterr().err
    assert ".env: NEWSLETTER_SECRET is the placeholder from .env.example" in err
    assert "secrets.token_urlsafe(32)" in err
    assert main(["send", "--no-fetch", "--config", str(project.config)], clock=lambda: NOW) == 2
    assert "placeholder" in capsys.readouterr().err
    project.env_file(NEWSLETTER_SECRET="x" * 20)  # the 16-character minimum still holds
    assert main(["check", "--config", str(project.config)], clock=lambda: NOW) == 0
    assert "warning: NEWSLETTER_SECRET is 20 characters" in capsys.readouterr().out
