"""Hostile and impossible config values: each is `file:line: problem — fix` and exit 2.

Every case edits the test project's YAML (or adds a file), runs `newsletter check` and
asserts the file, the line and the exit status. None of them may end in a traceback, a
hang or a RecursionError.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from newsletter.cli import main
from newsletter.config.yamlmarks import MAX_DEPTH
from tests.conftest import MAIN_YAML, NOW, SUBSCRIBERS_YAML, Project

MAIN = "config/newsletter.yaml"
SUBS = "config/subscribers.yaml"
END_OF_MAIN = MAIN_YAML.count("\n") + 1
"""The line a key appended to newsletter.yaml is on."""
END_OF_SUBS = SUBSCRIBERS_YAML.count("\n") + 1


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The shared project layout without a database backend: `check` never opens one."""
    for key in list(__import__("os").environ):
        if key.startswith(("SMTP_", "NEWSLETTER_", "DKIM_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    proj = Project(tmp_path)
    proj.write()
    return proj


def run_check(project: Project, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", "--config", str(project.config)], clock=lambda: NOW)
    return code, capsys.readouterr().err


def alias_bomb() -> str:
    """About 800 bytes that a YAML loader following aliases expands to 9**9 strings."""
    text = 'lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level in range(1, 10):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        text += f"lol{level}: &a{level} [{aliases}]\n"
    return text


def nested_block(depth: int) -> str:
    return "".join(" " * level + f"d{level}:\n" for level in range(depth)) + " " * depth + "x\n"


def write_bytes(relative: str, data: bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return setup


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    """The file to edit: MAIN or SUBS."""
    old: str
    """Text to replace in it; empty: append ``new`` at the end."""
    new: str
    line: int
    text: str
    """Expected in the problem message."""
    reported: str | None = None
    """The file the problem is reported against, when not the edited one."""
    setup: Callable[[Path], None] | None = None


CASES = [
    # -- the YAML itself ---------------------------------------------------------------
    Case("alias bomb", SUBS, "", alias_bomb(), END_OF_SUBS, "anchors and aliases"),
    Case("anchor alone", MAIN, "title: Test Digest", "title: &t Test Digest", 1, "anchors"),
    Case("merge key", MAIN, "digest:\n", "digest:\n  <<: *x\n", 11, "aliases"),
    Case("5,000 deep flow", MAIN, "", "deep: " + "[" * 5000 + "]" * 5000, END_OF_MAIN, "nested"),
    Case(
        "deep block mapping",
        SUBS,
        "",
        nested_block(200),
        # The file's mapping is level 1, so key d{k} is level k + 2: the first one too deep.
        END_OF_SUBS + MAX_DEPTH - 1,
        f"nested more than {MAX_DEPTH} levels",
    ),
    Case("5,000-digit integer", MAIN, "max_items: 25", "max_items: 1" + "0" * 5000, 11, "cannot"),
    Case("impossible date", MAIN, "title: Test Digest", "title: 2026-13-01", 1, "cannot read"),
    Case(
        "key given twice",
        SUBS,
        "    schedule: daily\n    topics: [ssl]",
        "    schedule: daily\n    schedule: weekly\n    topics: [ssl]",
        12,
        "given twice (also on line 11)",
    ),
    Case(
        "config file not UTF-8",
        MAIN,
        "",
        "",
        3,
        "not UTF-8",
        setup=write_bytes(MAIN, MAIN_YAML.encode().replace(b"base_url", b"base_\xffurl")),
    ),
    # -- addresses ---------------------------------------------------------------------
    Case("non-ASCII local part", SUBS, "alice@example.org", "jöhn@example.org", 9, "SMTPUTF8"),
    Case(
        "control character in address",
        SUBS,
        "alice@example.org",
        '"ali\\x01ce@example.org"',
        9,
        "U+0001",
    ),
    Case(
        "raw control character in address",
        SUBS,
        "alice@example.org",
        "ali\x01ce@example.org",
        9,
        "U+0001",
    ),
    Case(
        "header injection in address",
        SUBS,
        "alice@example.org",
        '"alice@example.org\\r\\nBcc: all@example.org"',
        9,
        "U+000D",
    ),
    Case("quoted local part", SUBS, "alice@example.org", "'\"a b\"@example.org'", 9, "Quoting"),
    Case("special-use domain", SUBS, "alice@example.org", "alice@printer.local", 9, "special"),
    Case(
        "two senders",
        MAIN,
        "Test Digest <digest@example.org>",
        "a@example.org, b@example.org",
        2,
        "exactly one address",
    ),
    Case(
        "sender with a non-ASCII local part",
        MAIN,
        "digest@example.org",
        "dïgest@example.org",
        2,
        "SMTPUTF8",
    ),
    # -- text --------------------------------------------------------------------------
    Case(
        "control character in title", MAIN, "title: Test Digest", 'title: "Te\\x07st"', 1, "U+0007"
    ),
    Case("escaped U+2028 in title", MAIN, "title: Test Digest", 'title: "A\\u2028B"', 1, "U+2028"),
    Case("raw U+2028 in title", MAIN, "title: Test Digest", "title: A\u2028B", 1, "U+2028"),
    Case(
        "U+0085 in sender",
        MAIN,
        "sender: Test Digest <digest@example.org>",
        'sender: "Test\\x85Digest <digest@example.org>"',
        2,
        "U+0085",
    ),
    Case(
        "bidi control in a topic title",
        SUBS,
        "title: Speech synthesis",
        "title: Speech \u202esisehtnys",
        6,
        "U+202E",
    ),
    Case("line break in title", MAIN, "title: Test Digest", 'title: "Test\\nDigest"', 1, "line"),
    Case("title far too long", MAIN, "title: Test Digest", "title: " + "x" * 5000, 1, "at most"),
    Case("empty title", MAIN, "title: Test Digest", "title:", 1, "empty"),
    Case(
        "base_url with a query",
        MAIN,
        "https://digest.example.org/news",
        "https://digest.example.org/news?x=1",
        3,
        "?query",
    ),
    Case("topic id with a space", SUBS, "  speech:\n", "  speech synthesis:\n", 5, "topic id"),
    # -- numbers and durations ---------------------------------------------------------
    Case(
        "fetch_every overflow",
        MAIN,
        "",
        "fetch_every: 99999999999999999999d\n",
        END_OF_MAIN,
        "too long",
    ),
    Case("catch_up overflow", MAIN, "", "catch_up: 99999999999999999999d\n", END_OF_MAIN, "7d"),
    Case(
        "feed fetch_every too long",
        MAIN,
        "    url: sample-feed.atom\n",
        "    url: sample-feed.atom\n    fetch_every: 8d\n",
        8,
        "at most 7d",
    ),
    Case("max_items huge", MAIN, "max_items: 25", "max_items: 1000000000000", 11, "at most 1000"),
    Case("lookback_days zero", MAIN, "lookback_days: 7", "lookback_days: 0", 12, "at least 1"),
    Case("max_items a word", MAIN, "max_items: 25", "max_items: yes", 11, "whole number"),
    # -- the templates folder ----------------------------------------------------------
    Case("templates: /etc", MAIN, "", "templates: /etc\n", END_OF_MAIN, "templates folder"),
    Case(
        "templates: a file",
        MAIN,
        "",
        "templates: newsletter.yaml\n",
        END_OF_MAIN,
        "not a folder",
    ),
    Case("templates: missing", MAIN, "", "templates: nope\n", END_OF_MAIN, "does not exist"),
    Case(
        "template not UTF-8",
        MAIN,
        "",
        "templates: ../tpl\n",
        2,
        "not UTF-8",
        reported="tpl/digest.html.j2",
        setup=write_bytes("tpl/digest.html.j2", b"<p>fine</p>\n\xff\xfe\n"),
    ),
    # -- this wave's keys --------------------------------------------------------------
    Case("footer too long", MAIN, "", "footer: |\n" + "  line\n" * 6, END_OF_MAIN, "at most 5"),
    Case("footer control", MAIN, "", 'footer: "PO Box 1\\x1b[2J"\n', END_OF_MAIN, "U+001B"),
    Case("archive_days zero", MAIN, "", "archive_days: 0\n", END_OF_MAIN, "at least 1"),
    Case("archive_days huge", MAIN, "", "archive_days: 3651\n", END_OF_MAIN, "at most 3650"),
    Case("trusted_proxies", MAIN, "", "trusted_proxies: 11\n", END_OF_MAIN, "at most 10"),
    Case("public_site a word", MAIN, "", "public_site: sometimes\n", END_OF_MAIN, "true or false"),
    Case(
        "fetch_private_addresses a number",
        MAIN,
        "",
        "fetch_private_addresses: 1\n",
        END_OF_MAIN,
        "true or false",
    ),
    Case(
        "subscribe domain with @",
        MAIN,
        "",
        "subscribe:\n  allowed_domains:\n    - example.org\n    - bob@example.org\n",
        END_OF_MAIN + 3,
        "part after the @",
    ),
    Case(
        "subscribe domain invalid",
        MAIN,
        "",
        "subscribe:\n  allowed_domains: [-bad-.example]\n",
        END_OF_MAIN + 1,
        "not a domain name",
    ),
    Case(
        "max_subscribers negative",
        MAIN,
        "",
        "subscribe:\n  max_subscribers: -1\n",
        END_OF_MAIN + 1,
        "at least 0",
    ),
    Case(
        "confirm_hours too long",
        MAIN,
        "",
        "subscribe:\n  confirm_hours: 721\n",
        END_OF_MAIN + 1,
        "at most 720",
    ),
    Case("bounce_address", MAIN, "", "bounce_address: bounces\n", END_OF_MAIN, "not a valid"),
    Case(
        "bounce_address without room for VERP",
        MAIN,
        "",
        f"bounce_address: {'b' * 48}@example.org\n",
        END_OF_MAIN,
        "at most 47",
    ),
    Case(
        "max_consecutive_errors zero",
        MAIN,
        "",
        "delivery:\n  max_consecutive_errors: 0\n",
        END_OF_MAIN + 1,
        "at least 1",
    ),
    Case(
        "library topic named trending",
        SUBS,
        "  speech:\n",
        "  trending:\n    trending: 5\n  speech:\n",
        5,
        "'trending' is built in — rename this topic",
    ),
    Case(
        "trending too many",
        SUBS,
        "      - title: Nothing at all\n        query: zyzzyva\n",
        "      - trending: 101\n",
        19,
        "at most 100",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_value_is_file_line_and_exit_2(
    project: Project, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    main_yaml, subs_yaml = MAIN_YAML, SUBSCRIBERS_YAML
    if case.file == MAIN:
        assert case.old in main_yaml
        main_yaml = main_yaml.replace(case.old, case.new, 1) if case.old else main_yaml + case.new
    else:
        assert case.old in subs_yaml
        subs_yaml = subs_yaml.replace(case.old, case.new, 1) if case.old else subs_yaml + case.new
    project.write(main_yaml, subs_yaml)
    if case.setup:
        case.setup(project.root)

    code, err = run_check(project, capsys)

    assert code == 2, err
    assert "Traceback" not in err
    prefix = f"{case.reported or case.file}:{case.line}: "
    hits = [line for line in err.splitlines() if line.startswith(prefix) and case.text in line]
    assert hits, err
    assert " — " in hits[0], "every problem says how to fix it"


def test_problems_of_every_subscriber_are_reported(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = (
        SUBSCRIBERS_YAML.replace("alice@example.org", '"ali\\x01ce@example.org"')
        .replace("bob@example.org", "böb@example.org")
        .replace("query: zyzzyva", "trending: 0")
    )
    project.write(subscribers=subs)
    code, err = run_check(project, capsys)
    assert code == 2
    assert re.search(rf"^{SUBS}:9: .*U\+0001", err, re.M), err
    assert re.search(rf"^{SUBS}:13: .*SMTPUTF8", err, re.M), err
    assert re.search(rf"^{SUBS}:20: .*trending: must be at least 1", err, re.M), err


def test_raw_line_separators_do_not_shift_later_line_numbers(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """YAML counts U+2028 and U+0085 as line breaks and editors do not: the line numbers
    of later problems must still be the editor's."""
    main_yaml = MAIN_YAML.replace("title: Test Digest", "title: A\u2028B\x85C").replace(
        "lookback_days: 7", "lookback_days: 0"
    )
    project.write(main_yaml)
    code, err = run_check(project, capsys)
    assert code == 2
    assert re.search(rf"^{MAIN}:1: .*U\+2028", err, re.M), err
    assert re.search(rf"^{MAIN}:1: .*U\+0085", err, re.M), err
    assert re.search(rf"^{MAIN}:12: digest.lookback_days: must be at least 1", err, re.M), err


def test_a_config_path_that_is_not_a_file_is_a_message(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--config", "/dev/zero"], clock=lambda: NOW)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("/dev/zero: not a regular file")


def test_a_bad_personal_topic_is_one_problem_not_two(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """pydantic also reports the `str` branch of "topic id or {title, query}"; that is noise."""
    project.write(subscribers=SUBSCRIBERS_YAML.replace("query: zyzzyva", "threshold: 5"))
    code, err = run_check(project, capsys)
    assert code == 2
    problems = [line for line in err.splitlines() if line.startswith(SUBS)]
    assert len(problems) == 1, err
    assert problems[0].startswith(f"{SUBS}:20: subscribers.2.topics.0.threshold: must be at most")
