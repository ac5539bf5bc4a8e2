"""`topics: [trending]`: the seed's own email, from a real Hugging Face Daily Papers response.

A real `/api/daily_papers` capture (tests/fixtures/real) is served by a local HTTP server,
fetched and stored like any feed; a subscriber whose only topic is `trending` receives
the most upvoted papers in upvote order. The expected order is computed from the JSON
file itself, not from the code under test.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from markupsafe import escape

from newsletter.cli import main
from tests.conftest import MAIN_YAML, HttpFiles, Project, Sink
from tests.test_send import smtp_env

CAPTURE = Path(__file__).parent / "fixtures" / "real" / "hf-daily-papers-2026-07-31.json"
AT = datetime(2026, 7, 31, 6, 0, tzinfo=UTC)

SUBSCRIBERS = """\
topics:
  agents:
    title: Agents
    query: agent
subscribers:
  - email: trend@example.org
    schedule: daily
    topics: [trending]
  - email: both@example.org
    schedule: daily
    topics: [agents, trending]
"""


def configure(project: Project, http_files: HttpFiles) -> None:
    http_files.files["/api/daily_papers"] = (CAPTURE.read_bytes(), "application/json")
    main_yaml = MAIN_YAML.replace(
        "  - name: sample\n    url: sample-feed.atom\n",
        f"  - name: hf\n    url: {http_files.base}/api/daily_papers\n    type: hf-daily-papers\n",
    )
    project.write(main=main_yaml, subscribers=SUBSCRIBERS)


def most_upvoted(count: int) -> list[str]:
    papers = json.loads(CAPTURE.read_text(encoding="utf-8"))
    ranked = sorted(papers, key=lambda p: -p["paper"]["upvotes"])
    return [p["title"] for p in ranked[:count]]


def visible_html(sink: Sink, recipient: str) -> str:
    (message,) = [m for m in sink.messages() if m["To"].addresses[0].addr_spec == recipient]
    html = message.get_body(("html",))
    assert html is not None
    return re.sub(r"<[^>]+>", "", str(html.get_content()))  # highlights split a title


def sent(project: Project, http_files: HttpFiles, sink: Sink) -> Sink:
    """The sink after one `send` of the real capture to both subscribers."""
    configure(project, http_files)
    smtp_env(project, sink)
    assert main(["send", "--config", str(project.config)], clock=lambda: AT) == 0
    return sink


def test_trending_only_subscriber_gets_the_most_upvoted_papers_in_upvote_order(
    project: Project, http_files: HttpFiles, smtp_sink: Sink
) -> None:
    html = visible_html(sent(project, http_files, smtp_sink), "trend@example.org")
    titles = most_upvoted(11)
    positions = [html.find(str(escape(title[:40]))) for title in titles[:10]]
    assert all(p >= 0 for p in positions), positions
    assert positions == sorted(positions)
    assert html.find(str(escape(titles[10][:40]))) == -1  # the 11th is not in a top 10


def test_a_trending_paper_is_listed_once_beside_the_other_topics(
    project: Project, http_files: HttpFiles, smtp_sink: Sink
) -> None:
    html = visible_html(sent(project, http_files, smtp_sink), "both@example.org")
    for title in most_upvoted(10):
        assert html.count(str(escape(title[:40]))) == 1, title
