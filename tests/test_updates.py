"""One paper, one entry, end to end: cross-lists merge, a new version is "Updated"."""

from __future__ import annotations

import os
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from newsletter.cli import main
from tests.conftest import NOW, Project
from tests.smtp_sink import Sink, smtp_server

SECRET = "s3cret-for-tests-0123456789"

MAIN = """\
title: Test Digest
sender: Test Digest <digest@example.org>
base_url: https://digest.example.org/
database: sqlite:///state/test.db
feeds:
  - name: arxiv-cl
    type: arxiv
    url: cl.rss
  - name: arxiv-lg
    type: arxiv
    url: lg.rss
schedules:
  daily: "0 7 * * *"
digest:
  updates: {updates}
"""

SUBSCRIBERS = """\
subscribers:
  - email: reader@example.org
    schedule: daily
    topics:
      - title: Translation
        query: translation
"""


def item(arxiv_id: str, version: int, kind: str, date: str, title: str) -> str:
    return f"""<item>
  <title>{title}</title>
  <link>https://arxiv.org/abs/{arxiv_id}</link>
  <description>arXiv:{arxiv_id}v{version} Announce Type: {kind}
Abstract: We study {title.lower()}.</description>
  <guid isPermaLink="false">oai:arXiv.org:{arxiv_id}v{version}</guid>
  <category>cs.CL</category>
  <pubDate>{date}</pubDate>
  <arxiv:announce_type>{kind}</arxiv:announce_type>
  <dc:creator>Ana Lima, Bo Chen and Carla Diaz</dc:creator>
</item>"""


def rss(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<channel><title>arXiv</title><link>https://arxiv.org</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    )


def write_feed(path: Path, text: str) -> None:
    existed = path.exists()
    before = path.stat().st_mtime if existed else 0
    path.write_text(text, encoding="utf-8")
    if existed:  # a local feed's mtime is its Last-Modified, at one-second resolution
        os.utime(path, (before + 2, before + 2))


def send(project: Project, at: object) -> int:
    return main(["send", "--config", str(project.config)], clock=lambda: at)  # type: ignore[arg-type, return-value]


def texts(sink: Sink) -> list[str]:
    out = []
    for _, data in sink.received:
        message = message_from_bytes(data, policy=policy.default)
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        out.append(" ".join(body.split()))
    return out


@pytest.mark.parametrize("mode", ["list", "skip"])
def test_cross_listed_once_and_a_new_version_is_listed_as_updated(
    project: Project, mode: str
) -> None:
    project.write(main=MAIN.format(updates=mode), subscribers=SUBSCRIBERS)
    cl, lg = project.root / "config" / "cl.rss", project.root / "config" / "lg.rss"
    day1 = "Wed, 25 Nov 2026 00:00:00 -0500"
    day2 = "Thu, 26 Nov 2026 00:00:00 -0500"
    paper = item("2611.00001", 1, "new", day1, "Neural machine translation at scale")
    write_feed(cl, rss(paper))
    write_feed(lg, rss(item("2611.00001", 1, "cross", day1, "Neural machine translation at scale")))
    sink = Sink()
    with smtp_server(sink) as port:
        project.env_file(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(port),
            SMTP_SECURITY="none",
            NEWSLETTER_SECRET=SECRET,
        )
        assert send(project, NOW) == 0
        (first,) = texts(sink)
        assert first.count("Neural machine translation at scale") == 1  # two feeds, one entry

        revised = item("2611.00001", 2, "replace", day2, "Neural machine translation at scale")
        fresh = item("2611.00002", 1, "new", day2, "Speech translation for everyone")
        # A revision of a paper we never had is not news (default announce types: new, cross).
        stranger = item("2501.09999", 4, "replace", day2, "Old translation paper, fourth version")
        write_feed(cl, rss(revised, fresh, stranger))
        later = NOW.replace(hour=NOW.hour + 12)
        assert send(project, later) == 0
        second = texts(sink)[1]
        assert "Speech translation for everyone" in second
        assert "Old translation paper" not in second
        if mode == "list":
            updated_part = second.split("Updated", 1)[1]
            assert "Neural machine translation at scale" in updated_part
        else:
            assert "Neural machine translation at scale" not in second

        # Nothing new and the revision already listed: no third mail.
        assert send(project, later.replace(hour=later.hour + 1)) == 0
        assert len(sink.received) == 2
