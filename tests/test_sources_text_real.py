"""Real captures through the parser: no text lost, TeX read, authors as people.

"No text lost" is checked against the raw capture read independently (ElementTree
for XML, lxml.html for HTML): every letter, digit and ``< > & %`` of the publisher's
text, minus TeX macro names, must appear in the parsed text in the same order
(accents compared without their marks, since ``\\"o`` becomes ``ö``).
"""

from __future__ import annotations

import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest

from newsletter import records
from newsletter.sources import FeedSpec, parse_document

REAL = Path(__file__).parent / "fixtures" / "real"
NOW = datetime(2026, 4, 27, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
RSS_EXCERPT = "arxiv-rss-cs.AI-2026-04-27-excerpt.xml"
API_FEEDS = ("arxiv-api-2026-04-12-q-testing-m100.atom", "arxiv-api-2016-10-09-au-del_maestro.atom")
_MACRO = re.compile(r"\\(?:begin|end)\{[^}]*\}|\\[A-Za-z]+")
_KEPT = re.compile(r"[^\W_]|[<>&%]")


def skeleton(value: str, *, tex: bool = False) -> str:
    """What must survive of ``value``: letters, digits, ``< > & %``, no marks, casefolded."""
    if tex:
        value = _MACRO.sub(" ", value)
    value = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    return "".join(_KEPT.findall(value.casefold()))


def assert_nothing_lost(raw: str, parsed: str, *, tex: bool = False) -> None:
    wanted, got = skeleton(raw, tex=tex), iter(skeleton(parsed))
    missing = next((i for i, c in enumerate(wanted) if c not in got), None)
    assert missing is None, f"lost near {wanted[max(0, missing - 30) : missing + 30]!r}"


def parse(
    name: str, spec_type: str, body: bytes | None = None, *, spec_all_types: bool = False
) -> tuple[records.Entry, ...]:
    spec = FeedSpec("real", "https://feeds.example/", spec_type)
    if spec_all_types:
        spec = replace(spec, announce_types=("new", "cross", "replace", "replace-cross"))
    result = parse_document(
        body if body is not None else (REAL / name).read_bytes(),
        content_type=None,
        location=f"https://feeds.example/{name}",
        spec=spec,
        now=NOW,
    )
    assert result.error is None, result.error
    return result.entries


def by_arxiv_id(entries: tuple[records.Entry, ...]) -> dict[str, records.Entry]:
    return {e.arxiv_id: e for e in entries if e.arxiv_id}


@pytest.mark.parametrize("name", API_FEEDS)
def test_arxiv_api_abstracts_and_titles_lose_no_text(name: str) -> None:
    entries = by_arxiv_id(parse(name, "feed"))
    raw_entries = ET.parse(REAL / name).getroot().iter(f"{ATOM}entry")
    checked = 0
    for raw in raw_entries:
        arxiv_id = raw.findtext(f"{ATOM}id", "").rsplit("/abs/", 1)[1].rsplit("v", 1)[0]
        entry = entries[arxiv_id]
        assert_nothing_lost(raw.findtext(f"{ATOM}title", ""), entry.title, tex=True)
        assert_nothing_lost(raw.findtext(f"{ATOM}summary", ""), entry.abstract, tex=True)
        names = [a.findtext(f"{ATOM}name", "") for a in raw.iter(f"{ATOM}author")]
        assert list(entry.authors) == [" ".join(n.split()) for n in names]
        checked += 1
    assert checked == len(entries) > 0


def test_arxiv_rss_abstracts_lose_no_text_and_read_tex() -> None:
    entries = by_arxiv_id(parse(RSS_EXCERPT, "arxiv"))
    for item in ET.parse(REAL / RSS_EXCERPT).getroot().iter("item"):
        entry = entries[item.findtext("link", "").rsplit("/", 1)[1]]
        abstract = item.findtext("description", "").split("Abstract:", 1)[1]
        assert_nothing_lost(abstract, entry.abstract, tex=True)
        assert_nothing_lost(item.findtext("title", ""), entry.title, tex=True)
        assert "\\" not in entry.abstract  # \textbf{adaptability} was read
    assert "central: adaptability, the ability" in entries["2604.21936"].abstract


def test_a_less_than_sign_inside_tex_is_kept() -> None:
    # Real abstract (arXiv API, 2026): "$γ(u)&lt;γ(v)$, it holds $y(u)&lt;y(v)$" —
    # HTML5 parsing would read "<y(v)$..." as the start of a tag and drop the rest.
    entries = parse("arxiv-api-2026-04-12-q-testing-m100.atom", "feed")
    (entry,) = [e for e in entries if "γ(u)<γ(v)" in e.abstract]
    assert "for any u,v∈ V with γ(u)<γ(v), it holds y(u)<y(v). The problem" in entry.abstract


def _rss_with_description(description: str) -> bytes:
    """The real cs.AI excerpt with its first abstract replaced, escaped as arXiv escapes."""
    body = (REAL / RSS_EXCERPT).read_text(encoding="utf-8")
    start = body.index("Abstract: ") + len("Abstract: ")
    end = body.index("</description>", start)
    escaped = description.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (body[:start] + escaped + body[end:]).encode()


@pytest.mark.parametrize("spec_type", ["arxiv", "feed"])
def test_the_issue_13_abstracts_keep_their_inequalities(spec_type: str) -> None:
    # The fragments reported in issue 13 (arXiv 2411.17730 and 2411.18458), in the
    # shape of a real rss.arxiv.org item.
    description = (
        r"We prove the bound for $\frac{1}{3}<s<1$ and extend it to $1<p<2+\varepsilon.$ "
        r"Schr\"odinger operators with 50% fewer terms follow."
    )
    (first, *_) = parse(RSS_EXCERPT, spec_type, _rss_with_description(description))
    assert first.abstract == (
        "We prove the bound for 1/3<s<1 and extend it to 1<p<2+ε. "
        "Schrödinger operators with 50% fewer terms follow."
    )


def test_arxiv_rss_authors_are_people() -> None:
    entries = by_arxiv_id(parse(RSS_EXCERPT, "arxiv"))
    for item in ET.parse(REAL / RSS_EXCERPT).getroot().iter("item"):
        entry = entries[item.findtext("link", "").rsplit("/", 1)[1]]
        creator = item.findtext("{http://purl.org/dc/elements/1.1/}creator", "")
        assert list(entry.authors) == creator.split(", ")
    assert entries["2604.21935"].authors == ("Michael Cooper", "Samuel Cooper")


def test_accented_names_from_the_arxiv_api_stay_as_written() -> None:
    entries = by_arxiv_id(parse("arxiv-api-2026-04-12-q-testing-m100.atom", "feed"))
    assert entries["2405.13786"].authors[:3] == (
        "Aurora Ramírez",
        "Mario Berrios",
        "José Raúl Romero",
    )
    assert "Päivi Raulamo-jurvanen" in entries["2202.09076"].authors
    assert entries["2306.03845"].title == "ωTest: WebView-Oriented Testing for Android Applications"


def test_biorxiv_surname_initials_lists() -> None:
    entries = {e.key: e for e in parse("biorxiv-plant-biology-2019-08-27.rdf", "feed")}
    assert entries["doi:10.1101/743294"].authors[:3] == ("M. Kaur", "A. Shukla", "S. Kanwar")
    assert len(entries["doi:10.1101/743294"].authors) == 13
    assert entries["doi:10.1101/742742"].authors[-1] == "S. C. M. Van Wees"
    # Lower-case initials are still initials: "Zhang, a., jiang, x., zhang, x."
    assert entries["doi:10.1101/745364"].authors == ("A. Zhang", "X. jiang", "X. zhang")


def test_biorxiv_abstracts_lose_no_text_and_are_not_read_as_tex() -> None:
    entries = {e.key: e for e in parse("biorxiv-plant-biology-2019-08-27.rdf", "feed")}
    rss = "{http://purl.org/rss/1.0/}"
    for item in (
        ET.parse(REAL / "biorxiv-plant-biology-2019-08-27.rdf").getroot().iter(f"{rss}item")
    ):
        doi = item.findtext("{http://purl.org/dc/elements/1.1/}identifier", "")
        entry = entries["doi:" + doi.removeprefix("doi:").lower()]
        assert_nothing_lost(item.findtext(f"{rss}description", ""), entry.abstract)
    assert "yeast vip1{Delta} genotype" in entries["doi:10.1101/743294"].abstract


@pytest.mark.parametrize("name", ["jsonfeed-1.0-daringfireball.json", "jsonfeed-1.1-fboes.json"])
def test_json_feed_html_loses_no_text_and_money_stays_money(name: str) -> None:
    data = json.loads((REAL / name).read_text(encoding="utf-8"))
    entries = parse(name, "feed")
    by_link = {e.link: e for e in entries}
    for item in data["items"]:
        entry = by_link[item.get("url")]
        raw = item.get("summary") or item.get("content_html") or ""
        if raw.strip():
            visible = lxml.html.fromstring(raw).text_content()
            assert_nothing_lost(visible, entry.abstract)
        assert_nothing_lost(item.get("title", ""), entry.title)
    if name.startswith("jsonfeed-1.0"):
        titles = {e.title for e in entries}
        assert "Virgin Mobile Partners With Apple to Go iPhone-Only With $1 Service" in titles


def test_scripting_news_html_loses_no_text() -> None:
    entries = parse("scriptingnews-2017-06-26.rss", "feed")
    by_link = {}  # each post has a permalink of its own (they differ after "#")
    for item in ET.parse(REAL / "scriptingnews-2017-06-26.rss").getroot().iter("item"):
        by_link.setdefault(item.findtext("link", ""), item.findtext("description", ""))
    assert len(entries) == len(by_link) == 48
    for entry in entries:
        raw = by_link[entry.link]
        assert_nothing_lost(lxml.html.fromstring(raw).text_content(), entry.abstract)


OLD_RSS = "arxiv-rss-math-2012-09-12.rdf"
RSS1 = "{http://purl.org/rss/1.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"


def test_old_arxiv_rss_html_abstracts_lose_no_text() -> None:
    # Before 2024 arXiv's summaries were HTML (<p>…</p>) and TeX "<" came as &lt;.
    entries = by_arxiv_id(parse(OLD_RSS, "arxiv", spec_all_types=True))
    items = list(ET.parse(REAL / OLD_RSS).getroot().iter(f"{RSS1}item"))
    for item in items:
        entry = entries[item.findtext(f"{RSS1}link", "").rsplit("/abs/", 1)[1]]
        visible = lxml.html.fromstring(item.findtext(f"{RSS1}description", "")).text_content()
        assert_nothing_lost(visible, entry.abstract, tex=True)
        assert "<p>" not in entry.abstract and "</p>" not in entry.abstract
    assert len(entries) == len(items) == 126
    matrix = next(e for e in entries.values() if "X-A^*X^-pA=Q with p>0" in e.abstract)
    assert "the case p>1 and the case 0<p<1." in matrix.abstract


def test_old_arxiv_rss_titles_and_authors() -> None:
    entries = by_arxiv_id(parse(OLD_RSS, "arxiv", spec_all_types=True))
    for item in ET.parse(REAL / OLD_RSS).getroot().iter(f"{RSS1}item"):
        entry = entries[item.findtext(f"{RSS1}link", "").rsplit("/abs/", 1)[1]]
        creators = lxml.html.fromstring(f"<div>{item.findtext(f'{DC}creator', '')}</div>")
        assert list(entry.authors) == [
            " ".join(a.text_content().split()) for a in creators.iter("a")
        ]
        assert "(arXiv:" not in entry.title and not entry.title.endswith(".")
    assert entries["1209.2449"].title == (
        "The Brenner-Hochster-Kollár and Whitney Problems for Vector-valued Functions and Jets"
    )
    assert entries["1209.2448"].authors == ("Alan Adolphson", "Steven Sperber")
    kinds = [e.announce_type for e in entries.values()]
    assert (kinds.count("new"), kinds.count("replace"), kinds.count("cross")) == (71, 54, 1)


def test_hf_daily_papers_authors_and_text() -> None:
    name = "hf-daily-papers-2026-07-31.json"
    entries = by_arxiv_id(parse(name, "hf-daily-papers"))
    for item in json.loads((REAL / name).read_text(encoding="utf-8")):
        paper = item["paper"]
        entry = entries[paper["id"]]
        assert list(entry.authors) == [" ".join(a["name"].split()) for a in paper["authors"]]
        assert_nothing_lost(paper["summary"], entry.abstract, tex=True)
        assert_nothing_lost(paper["title"], entry.title, tex=True)
    assert "85.78%, 100.00%, 97.67%" in entries["2607.26056"].abstract
    assert "Archetypes Extension – More Pede" in entries["2607.16922"].title
