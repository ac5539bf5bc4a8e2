"""Real third-party captures in tests/fixtures/real/ are whole and parse into every item.

Each capture's items are counted here with ``xml.etree``/``json`` — independently of the
parser — and compared twice: with the count documented in ``tests/fixtures/real/README.md``
(so a truncated or edited capture is noticed) and with the entries ``parse_document``
returns (so an item the parser drops or wrongly merges is noticed).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.sources import FeedSpec, parse_document

REAL = Path(__file__).parent / "fixtures" / "real"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ALL_ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")

_ATOM = "{http://www.w3.org/2005/Atom}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_VERSION = re.compile(r"v\d+$")


def _rss2_guids(body: bytes) -> list[str]:
    """The guid (else link) of every <item> of an RSS 2.0 channel."""
    items = ET.fromstring(body).findall("./channel/item")
    return [(item.findtext("guid") or item.findtext("link") or "").strip() for item in items]


def _arxiv_rss_ids(body: bytes) -> list[str]:
    """arXiv ids without version, from guids like ``oai:arXiv.org:2604.21935v1``."""
    return [_VERSION.sub("", guid.rsplit(":", 1)[-1]) for guid in _rss2_guids(body)]


def _rss1_abouts(body: bytes) -> list[str]:
    """The rdf:about of every RSS 1.0 <item>."""
    return [item.get(f"{_RDF}about", "") for item in ET.fromstring(body).iter(f"{_RSS1}item")]


def _arxiv_rss1_ids(body: bytes) -> list[str]:
    """arXiv ids from the rdf:about of old-format arXiv RSS 1.0 items (``…/abs/1209.2411``)."""
    return [about.rsplit("/abs/", 1)[-1] for about in _rss1_abouts(body)]


def _arxiv_atom_ids(body: bytes) -> list[str]:
    """arXiv ids without version, from entry ids like ``http://arxiv.org/abs/1201.4869v1``."""
    entries = ET.fromstring(body).findall(f"{_ATOM}entry")
    ids = [(entry.findtext(f"{_ATOM}id") or "").rsplit("/abs/", 1)[-1] for entry in entries]
    return [_VERSION.sub("", arxiv_id) for arxiv_id in ids]


def _json_feed_ids(body: bytes) -> list[str]:
    return [str(item["id"]) for item in json.loads(body.decode("utf-8"))["items"]]


def _hf_daily_paper_ids(body: bytes) -> list[str]:
    """``paper.id`` (an arXiv id) of every object of a Hugging Face daily_papers array."""
    return [str(item["paper"]["id"]) for item in json.loads(body.decode("utf-8"))]


@dataclass(frozen=True)
class Capture:
    file: str
    feed_type: str
    """``FeedSpec.type`` to parse it with."""
    content_type: str
    items: int
    """Items in the file, as listed in the README."""
    identify: Callable[[bytes], list[str]]
    """One identifier per item, read without the code under test."""
    arxiv: bool = False
    """Identifiers are arXiv ids, to be compared with ``Entry.arxiv_id``."""


CAPTURES = (
    Capture(
        "arxiv-rss-cs.AI-2026-04-27-excerpt.xml",
        "arxiv",
        "application/rss+xml",
        3,
        _arxiv_rss_ids,
        arxiv=True,
    ),
    Capture(
        "arxiv-rss-math-2012-09-12.rdf",
        "arxiv",
        "application/rdf+xml",
        126,
        _arxiv_rss1_ids,
        arxiv=True,
    ),
    Capture(
        "arxiv-api-2016-10-09-au-del_maestro.atom",
        "arxiv",
        "application/atom+xml",
        10,
        _arxiv_atom_ids,
        arxiv=True,
    ),
    Capture(
        "arxiv-api-2026-04-12-q-testing-m100.atom",
        "arxiv",
        "application/atom+xml",
        100,
        _arxiv_atom_ids,
        arxiv=True,
    ),
    Capture(
        "biorxiv-plant-biology-2019-08-27.rdf",
        "feed",
        "application/rdf+xml",
        30,
        _rss1_abouts,
    ),
    Capture(
        "scriptingnews-2017-06-26.rss",
        "feed",
        "application/rss+xml",
        50,
        _rss2_guids,
    ),
    Capture(
        "jsonfeed-1.1-fboes.json",
        "feed",
        "application/feed+json",
        20,
        _json_feed_ids,
    ),
    Capture(
        "jsonfeed-1.0-daringfireball.json",
        "feed",
        "application/feed+json",
        48,
        _json_feed_ids,
    ),
    Capture(
        "hf-daily-papers-2026-07-31.json",
        "hf-daily-papers",
        "application/json",
        30,
        _hf_daily_paper_ids,
        arxiv=True,
    ),
)

KNOWN_DEFECTS: dict[str, str] = {}


def _cases() -> list[object]:
    cases: list[object] = []
    for capture in CAPTURES:
        defect = KNOWN_DEFECTS.get(capture.file)
        marks = [pytest.mark.xfail(reason=defect, strict=True)] if defect else []
        cases.append(pytest.param(capture, id=capture.file, marks=marks))
    return cases


def test_every_capture_is_listed_here_and_in_the_readme() -> None:
    readme = (REAL / "README.md").read_text(encoding="utf-8")
    on_disk = {path.name for path in REAL.iterdir() if path.name != "README.md"}
    assert on_disk == {capture.file for capture in CAPTURES}
    for capture in CAPTURES:
        row = next((line for line in readme.splitlines() if f"`{capture.file}`" in line), "")
        assert row, f"{capture.file} is not in the README table"
        assert f"| {capture.items} |" in row, f"README item count for {capture.file}"


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.file for c in CAPTURES])
def test_capture_is_whole(capture: Capture) -> None:
    ids = capture.identify((REAL / capture.file).read_bytes())
    assert len(ids) == capture.items
    assert all(ids), "an item without an identifier"


@pytest.mark.parametrize("capture", _cases())
def test_parser_keeps_every_distinct_item(capture: Capture) -> None:
    body = (REAL / capture.file).read_bytes()
    distinct = set(capture.identify(body))
    spec = FeedSpec(
        name=capture.file,
        url=f"https://feeds.example/{capture.file}",
        type=capture.feed_type,
        announce_types=ALL_ANNOUNCE_TYPES,
    )
    result = parse_document(
        body,
        content_type=capture.content_type,
        location=spec.url,
        spec=spec,
        now=NOW,
    )
    assert result.error is None, result.error
    assert result.skipped == 0
    assert len(result.entries) == len(distinct)
    if capture.arxiv:
        assert {entry.arxiv_id for entry in result.entries} == distinct
    assert all(entry.title or entry.abstract for entry in result.entries)
