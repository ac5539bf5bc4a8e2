"""What clean text costs: reading real arXiv feeds with hygiene, HTML and TeX reading.

Workload: the real arXiv API capture in tests/fixtures/real (100 papers, a dozen with
TeX in their abstracts) and the real rss.arxiv.org excerpt. Figures, each beside a
baseline from the same run (best of several rounds, the TeX cache cleared every round):

- ``parse_document`` on the capture against ``feedparser.parse`` alone on the same
  bytes: the floor any feed reader pays, so the ratio shows what entries, keys and
  clean text add on top.
- the 100 titles and abstracts through ``text.line``/``text.paragraphs`` with TeX
  reading against the same calls without it: what reading TeX costs.

Run: ``python -m bench.text [--quick]`` (or ``python -m bench --only text``).
"""

from __future__ import annotations

import io
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from bench.common import Row, print_table, row
from newsletter.sources import FeedSpec, parse_document, text
from newsletter.sources.latex_reader import read_snippet

REAL = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real"
API = REAL / "arxiv-api-2026-04-12-q-testing-m100.atom"
RSS = REAL / "arxiv-rss-cs.AI-2026-04-27-excerpt.xml"
ATOM = "{http://www.w3.org/2005/Atom}"


def _best(work: Callable[[], object], rounds: int) -> float:
    """Best wall time of ``rounds`` runs, in milliseconds, each from a cold TeX cache."""
    best = float("inf")
    for _ in range(rounds):
        read_snippet.cache_clear()
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _parse(body: bytes, spec_type: str) -> None:
    spec = FeedSpec("bench", "https://bench.example/", spec_type)
    now = datetime.now(UTC)
    result = parse_document(
        body, content_type=None, location="https://bench.example/", spec=spec, now=now
    )
    assert result.error is None and result.entries, result.error


def _feedparser(body: bytes) -> None:
    parsed = feedparser.parse(io.BytesIO(body), resolve_relative_uris=False, sanitize_html=False)
    assert parsed.entries


def run(quick: bool) -> list[Row]:
    rounds = 3 if quick else 10
    rows: list[Row] = []
    for path, spec_type in ((API, "feed"), (RSS, "arxiv")):
        body = path.read_bytes()
        ours = _best(lambda: _parse(body, spec_type), rounds)  # noqa: B023
        floor = _best(lambda: _feedparser(body), rounds)  # noqa: B023
        rows.append(row(f"text: parse {path.name} vs feedparser alone", ours, floor, "ms",
                        lower_is_better=True))  # fmt: skip
    raw = [
        (entry.findtext(f"{ATOM}title", ""), entry.findtext(f"{ATOM}summary", ""))
        for entry in ET.parse(API).getroot().iter(f"{ATOM}entry")
    ]

    def read(tex: bool) -> None:
        for title, summary in raw:
            text.line(title, tex=tex)
            text.paragraphs(summary, tex=tex)

    with_tex = _best(lambda: read(True), rounds)
    without = _best(lambda: read(False), rounds)
    rows.append(row(f"text: {len(raw)} arXiv titles+abstracts with TeX reading vs without",
                    with_tex, without, "ms", lower_is_better=True))  # fmt: skip
    return rows


if __name__ == "__main__":
    print_table(run("--quick" in sys.argv))
