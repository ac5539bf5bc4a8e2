"""`match` and `preview`, and that a digest holds exactly what its queries select."""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from newsletter.cli import main
from newsletter.demo import sample_papers
from tests.conftest import NOW, SUBSCRIBERS_YAML, Project


def run(project: Project, *args: str) -> int:
    return main([*args, "--config", str(project.config)], clock=lambda: NOW)


def titles_where(pattern: str) -> set[str]:
    """An oracle independent of the matcher: sample titles containing the regex."""
    return {p["title"] for p in sample_papers() if re.search(pattern, p["title"], re.IGNORECASE)}


def test_match_json_lists_matching_stored_entries_best_first(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "fetch") == 0
    capsys.readouterr()
    assert run(project, "match", 'title:"barlow twins"', "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["title"] for r in rows} == titles_where(r"\bbarlow twins\b")
    assert len(rows) == 2
    for row in rows:
        assert set(row) >= {"title", "link", "score", "topics", "matched_terms"}
        assert [t.lower() for t in row["matched_terms"]] == ["barlow twins"]
        assert row["link"].startswith("https://")
    assert rows[0]["score"] >= rows[1]["score"]


def test_match_table_and_title_scope(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(project, "fetch") == 0
    capsys.readouterr()
    assert run(project, "match", "title:speech") == 0
    out = capsys.readouterr().out
    expected = titles_where(r"\bspeech\b")
    assert f"{len(expected)} entries match." in out
    assert "score" in out.splitlines()[0]


def test_match_a_feed_file_without_storing_it(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    feed = project.root / "config" / "sample-feed.atom"
    assert run(project, "match", "title:transformer*", "--feed", str(feed), "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["title"] for r in rows} == titles_where(r"\btransformer")
    from newsletter.config import load_config
    from newsletter.store import Store

    store = Store.open(load_config(project.config).database_url)
    assert store.entry_count() == 0
    store.close()


def test_bad_query_exits_2_with_a_caret(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "match", "speech AND") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "^" in err and "speech AND" in err


def test_match_needs_a_query_or_a_subscriber(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "match") == 2
    assert "give either a QUERY" in capsys.readouterr().err


QUERIES = {
    "barlow": ('title:"Barlow Twins"', r"\bbarlow twins\b"),
    "tts": ("title:(TTS OR speech)", r"\b(tts|speech)\b"),
    "former": (
        "title:(uniformer OR autoformer OR ecoformer)",
        r"\b(uniformer|autoformer|ecoformer)\b",
    ),
}


def test_dry_run_digest_holds_exactly_the_entries_its_queries_select(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = "".join(
        f"  {name}:\n    title: Topic {name}\n    query: '{query}'\n"
        for name, (query, _) in QUERIES.items()
    )
    subscribers = (
        "topics:\n" + topics + "subscribers:\n"
        "  - email: reader@example.org\n    schedule: daily\n    topics: [barlow, tts, former]\n"
    )
    project.write(subscribers=subscribers)
    out = project.root / "dry"
    assert run(project, "send", "--dry-run", "--out", str(out)) == 0
    (eml,) = out.glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    text = " ".join(body.split())  # titles may be wrapped over lines
    expected = set().union(*(titles_where(pattern) for _, pattern in QUERIES.values()))
    assert expected and len(expected) < 25
    for title in expected:
        assert text.count(" ".join(title.split())) == 1, title
    assert f"{len(expected)} new paper" in message["Subject"]
    unrelated = titles_where(r"^Self-similarity Driven")
    assert not any(t.split(":")[0] in text for t in unrelated)


def test_match_subscriber_shows_the_next_digest(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(subscribers=SUBSCRIBERS_YAML)
    assert run(project, "fetch") == 0
    capsys.readouterr()
    assert run(project, "match", "--subscriber", "bob@example.org", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["topics"] == ["Speech synthesis"] for r in rows)
    assert run(project, "match", "--subscriber", "nobody@example.org", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_an_international_address_is_found_as_typed_or_in_its_ascii_form(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(subscribers=SUBSCRIBERS_YAML.replace("bob@example.org", "bob@bücher.example"))
    assert run(project, "fetch") == 0
    capsys.readouterr()
    answers = []
    for typed in ("bob@bücher.example", "bob@xn--bcher-kva.example"):
        assert run(project, "match", "--subscriber", typed, "--json") == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0] and answers[0] == answers[1]
    out = project.root / "pv"
    assert run(project, "preview", "--subscriber", "bob@bücher.example", "--out", str(out)) == 0
    assert "Speech synthesis" in (out / "bob@xn--bcher-kva.example.html").read_text()


def test_preview_writes_html_and_text(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    out = project.root / "pv"
    assert run(project, "preview", "--subscriber", "alice@example.org", "--out", str(out)) == 0
    html = (out / "alice@example.org.html").read_text()
    assert "Self-supervised learning" in html and "<table" in html
    assert (out / "alice@example.org.txt").read_text().strip()
    assert run(project, "preview", "--subscriber", "nobody@example.org", "--out", str(out)) == 0
    assert "Nothing new for nobody@example.org" in capsys.readouterr().out
    assert run(project, "preview", "--subscriber", "ghost@example.org", "--out", str(out)) == 2
