"""The bundled sample feed: 80 real paper titles and abstracts, dated relative to today.

The demo must show a digest on any day, so the feed is written with fresh dates
(``python -m newsletter demo-feed``) instead of being committed with fixed ones.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

SAMPLE_FEED_NAME = "sample-feed.atom"


def sample_papers() -> list[dict[str, str]]:
    data = resources.files("newsletter").joinpath("data/sample_papers.json").read_text("utf-8")
    papers: list[dict[str, str]] = json.loads(data)
    return papers


def sample_feed(now: datetime, days: int = 5) -> str:
    """An Atom feed of the sample papers, spread over the last ``days`` days before ``now``."""
    papers = sample_papers()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        "  <title>Sample papers (newsletter demo)</title>",
        "  <id>urn:newsletter:sample-papers</id>",
        f"  <updated>{stamp}</updated>",
    ]
    for index, paper in enumerate(papers):
        published = now - timedelta(days=index % days, minutes=index)
        link = "https://arxiv.org/search/?searchtype=title&query=" + quote_plus(paper["title"])
        parts += [
            "  <entry>",
            f"    <title>{escape(paper['title'])}</title>",
            f"    <id>urn:newsletter:sample-paper:{index + 1}</id>",
            f'    <link rel="alternate" href="{escape(link)}"/>',
            f"    <published>{published.strftime('%Y-%m-%dT%H:%M:%SZ')}</published>",
            f"    <updated>{published.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>",
            f"    <summary>{escape(paper['abstract'])}</summary>",
            "  </entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


def write_sample_feed(path: Path, now: datetime) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sample_feed(now), encoding="utf-8")
    return len(sample_papers())
