"""The bundled sample data: 80 real paper titles and abstracts, dated relative to today.

The demo must show a digest and a day's papers on any day, so the files are written with
fresh dates (``python -m newsletter demo-feed``) instead of being committed with fixed ones:

- ``sample-feed.atom``: the papers as an Atom feed;
- ``sample-daily-papers.json``: the same papers in the shape of Hugging Face's Daily
  Papers API, with upvote counts **invented for the demo** (there is something to rank).

Both give each paper the same made-up arXiv-style id (``0000.000NN``: month 00 never
exists, so no real paper has one), so the store merges them into one entry with its
upvotes, as it does for a real paper seen on arXiv and on Hugging Face. Links built from
these ids (arXiv abstract and PDF) lead nowhere; the title links search arXiv for the
real paper.
"""

from __future__ import annotations

import json
import random
import secrets
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

from newsletter.config.env import PLACEHOLDER_SECRETS

SAMPLE_FEED_NAME = "sample-feed.atom"
SAMPLE_DAILY_PAPERS_NAME = "sample-daily-papers.json"
DEMO_NOTE = "newsletter demo data: the id and the upvotes are invented"
_UPVOTES_SEED = 20261126
SECRET_VARIABLE = "NEWSLETTER_SECRET"


def sample_papers() -> list[dict[str, str]]:
    data = resources.files("newsletter").joinpath("data/sample_papers.json").read_text("utf-8")
    papers: list[dict[str, str]] = json.loads(data)
    return papers


def demo_arxiv_id(index: int) -> str:
    """An id shaped like arXiv's that no real paper has (``0000.00001`` …)."""
    return f"0000.{index + 1:05d}"


def _published(now: datetime, index: int, days: int) -> datetime:
    return now - timedelta(days=index % days, minutes=index)


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
        published = _published(now, index, days).strftime("%Y-%m-%dT%H:%M:%SZ")
        link = "https://arxiv.org/search/?searchtype=title&query=" + quote_plus(paper["title"])
        parts += [
            "  <entry>",
            f"    <title>{escape(paper['title'])}</title>",
            f"    <id>arxiv:{demo_arxiv_id(index)}</id>",
            f'    <link rel="alternate" href="{escape(link)}"/>',
            f"    <published>{published}</published>",
            f"    <updated>{published}</updated>",
            f"    <summary>{escape(paper['abstract'])}</summary>",
            "  </entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


def demo_upvotes(count: int) -> list[int]:
    """Invented upvote counts, the same on every run: a few popular papers, a long tail."""
    rng = random.Random(_UPVOTES_SEED)
    return [int(rng.lognormvariate(2.4, 1.0)) for _ in range(count)]


def sample_daily_papers(now: datetime, days: int = 5) -> str:
    """The sample papers shaped like ``https://huggingface.co/api/daily_papers`` (invented
    upvotes; each item says so in its ``demo`` field, which the reader ignores)."""
    papers = sample_papers()
    items = []
    for index, (paper, votes) in enumerate(zip(papers, demo_upvotes(len(papers)), strict=True)):
        published = _published(now, index, days).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        items.append(
            {
                "demo": DEMO_NOTE,
                "paper": {
                    "id": demo_arxiv_id(index),
                    "title": paper["title"],
                    "summary": paper["abstract"],
                    "upvotes": votes,
                    "publishedAt": published,
                    "authors": [],
                },
                "publishedAt": published,
                "title": paper["title"],
            }
        )
    return json.dumps(items, indent=1, ensure_ascii=False) + "\n"


def write_sample_feed(path: Path, now: datetime) -> int:
    """Write the Atom feed to ``path`` and the daily-papers file beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sample_feed(now), encoding="utf-8")
    (path.parent / SAMPLE_DAILY_PAPERS_NAME).write_text(sample_daily_papers(now), encoding="utf-8")
    return len(sample_papers())


def ensure_secret(env_file: Path) -> bool:
    """Give ``env_file`` a fresh ``NEWSLETTER_SECRET`` when it has none (empty, missing, or
    the documentation's placeholder, which is refused anyway); True when it wrote one.

    Any other value is kept: changing a secret breaks the links already mailed.
    """
    lines = env_file.read_text("utf-8").splitlines() if env_file.exists() else []
    fresh = f"{SECRET_VARIABLE}={secrets.token_urlsafe(32)}"
    for number, line in enumerate(lines):
        name, sep, value = line.partition("=")
        if sep and name.strip() in (SECRET_VARIABLE, f"export {SECRET_VARIABLE}"):
            current = value.strip().strip("'\"")
            if current and current not in PLACEHOLDER_SECRETS:
                return False
            lines[number] = fresh
            break
    else:
        lines.append(fresh)
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True
