"""`make demo` then `serve`: the sample papers, merged with their invented upvotes, ranked
on the day page; and the secret `make demo` writes into .env (never replacing one)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from newsletter.app import open_app
from newsletter.cli import main
from newsletter.demo import DEMO_NOTE, SAMPLE_DAILY_PAPERS_NAME, ensure_secret
from newsletter.web import running, web_app
from tests.conftest import NOW

REPO_CONFIG = Path(__file__).parent.parent / "config"


def secret_in(env: Path) -> str:
    found = re.findall(r"^NEWSLETTER_SECRET=(.*)$", env.read_text(), re.M)
    assert len(found) == 1
    return found[0]


def test_a_secret_is_written_only_when_there_is_none(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert ensure_secret(env) is True
    first = secret_in(env)
    assert len(first) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", first)
    assert ensure_secret(env) is False
    assert secret_in(env) == first  # never replaced

    env.write_text("SMTP_HOST=relay.example.org\nNEWSLETTER_SECRET=\nSMTP_PORT=25\n")
    assert ensure_secret(env) is True
    assert env.read_text().startswith("SMTP_HOST=relay.example.org\nNEWSLETTER_SECRET=")
    assert env.read_text().endswith("\nSMTP_PORT=25\n") and secret_in(env)

    env.write_text("NEWSLETTER_SECRET=change-me-to-a-long-random-string\n")  # the old example
    assert ensure_secret(env) is True and secret_in(env) != "change-me-to-a-long-random-string"

    env.write_text("# mine\nNEWSLETTER_SECRET='my own long secret value 123'\n")
    assert ensure_secret(env) is False
    assert env.read_text() == "# mine\nNEWSLETTER_SECRET='my own long secret value 123'\n"


def test_the_example_env_file_asks_for_a_secret_instead_of_giving_one() -> None:
    example = (REPO_CONFIG.parent / ".env.example").read_text()
    assert re.search(r"^NEWSLETTER_SECRET=$", example, re.M)
    assert "secrets.token_urlsafe(32)" in example


@pytest.mark.sqlite_only
def test_make_demo_then_serve_shows_the_sample_papers_ranked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    for key in ("NEWSLETTER_SECRET", "NEWSLETTER_CONFIG", "NEWSLETTER_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO_CONFIG, tmp_path / "config", ignore=shutil.ignore_patterns("sample-*"))
    config = tmp_path / "config" / "newsletter.yaml"

    # what the Makefile's demo target runs
    assert main(["demo-feed", "--write-secret"], clock=lambda: NOW) == 0
    assert main(["send", "--dry-run"], clock=lambda: NOW) == 0
    daily = (tmp_path / "config" / SAMPLE_DAILY_PAPERS_NAME).read_text()
    assert daily.count(DEMO_NOTE) == 80  # every invented count says so

    with open_app(tmp_path / ".env", config, lambda: NOW) as app:
        entries = app.store.all_entries()
        assert len(entries) == 80  # the two sample feeds merged by arXiv id
        assert all(e.popularity is not None for e in entries)
        assert all(set(e.feeds) == {"sample", "sample-upvotes"} for e in entries)
        with running(web_app(app)) as url:
            page = httpx.get(url + "/")  # base_url https://digest.example.org/ → the root
    assert page.status_code == 200
    votes = [int(v) for v in re.findall(r'title="(\d+) upvotes"', page.text)]
    assert len(votes) == 16 and votes == sorted(votes, reverse=True)
    assert "Thursday, 26 November 2026" in page.text
