"""Parsing fixture feeds into entries: arXiv, Hugging Face, JSON Feed, RSS; keys and merging."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.run import store_entries
from newsletter.sources import (
    FeedSpec,
    FeedState,
    combine,
    health,
    is_update,
    merge_entries,
    parse_document,
)
from newsletter.sources.authors import people
from newsletter.sources.keys import canonical_key, find_doi, normalise_url, parse_arxiv_id
from newsletter.sources.text import line, paragraphs
from newsletter.store import Store
from tests.conftest import Project

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
NOW = datetime(2024, 3, 12, 6, 0, tzinfo=UTC)


def parse(name: str, spec: FeedSpec, content_type: str | None = None):  # type: ignore[no-untyped-def]
    result = parse_document(
        (FIXTURES / name).read_bytes(),
        content_type=content_type,
        location=f"https://feeds.example/{name}",
        spec=spec,
        now=NOW,
    )
    assert result.error is None, result.error
    return result


def test_arxiv_rss_fields() -> None:
    result = parse("arxiv-cs.CL.rss", FeedSpec("cs.CL", "x", "arxiv"), "application/rss+xml")
    assert result.warnings == ()
    assert result.skipped == 2  # replace and replace-cross are not kept by default
    first, cross = result.entries
    assert first.key == "arxiv:2403.05001"
    assert first.arxiv_id == "2403.05001" and first.version == 1
    assert first.announce_type == "new"
    assert first.title == "Sparse Mixtures of Experts for Low-Resource Translation"
    assert first.abstract == (
        "We study sparse mixture-of-experts models for translation into low-resource "
        "languages & show gains of 3.1 BLEU on 10^3 sentence pairs."
    )
    assert first.authors == ("Ana Lima", "Bo Chen", "Carla Díaz")
    assert first.categories == ("cs.CL", "cs.LG")
    assert first.link == "https://arxiv.org/abs/2403.05001"
    assert first.pdf_link == "https://arxiv.org/pdf/2403.05001"
    assert first.published == datetime(2024, 3, 11, 4, 0, tzinfo=UTC)
    assert first.feeds == ("cs.CL",) and first.first_seen == NOW
    assert cross.announce_type == "cross"
    assert (
        cross.abstract
        == "A kNN cache over hidden states reduces perplexity by 12% on WikiText-103."
    )
    assert cross.title == "Retrieval-Augmented Decoding with kNN Caches"


def test_arxiv_announce_types_are_configurable() -> None:
    spec = FeedSpec("cs.CL", "x", "arxiv", announce_types=("replace", "replace-cross"))
    result = parse("arxiv-cs.CL.rss", spec)
    assert [(e.arxiv_id, e.version, e.announce_type) for e in result.entries] == [
        ("2302.12986", 3, "replace"),
        ("2401.00077", 2, "replace-cross"),
    ]
    assert result.entries[0].authors == (
        "Benzhi Wang", "Yang Yang", "Jinlin Wu", "Guo-jun Qi", "Zhen Lei",
    )  # fmt: skip
    assert result.entries[1].authors == ("Eve Martin", "Frank Osei")


def test_arxiv_atom_fields() -> None:
    result = parse("arxiv-cs.LG.atom", FeedSpec("cs.LG", "x", "arxiv"), "application/atom+xml")
    cross, mod = result.entries
    assert cross.key == "arxiv:2403.05002" and cross.categories == ("cs.LG", "stat.ML")
    assert mod.authors == ("Grace Ho", "Ivan Petrov", "Jun Park", "Kim Lee")
    assert mod.abstract.startswith("Transformers spend the same compute on every token —")
    assert not mod.abstract.startswith("arXiv:") and "Abstract:" not in mod.abstract


def test_hf_daily_papers_fields() -> None:
    result = parse("hf-daily-papers.json", FeedSpec("hf", "x", "hf-daily-papers"))
    mod, video = result.entries
    assert mod.key == "arxiv:2403.06892" and mod.arxiv_id == "2403.06892"
    assert mod.popularity == 42
    assert mod.authors == ("Grace Ho", "Ivan Petrov", "Jun Park", "Kim Lee")
    assert mod.link == "https://huggingface.co/papers/2403.06892"
    assert mod.pdf_link == "https://arxiv.org/pdf/2403.06892"
    assert mod.published == datetime(2024, 3, 11, 14, 35, 7, tzinfo=UTC)
    assert mod.abstract == (
        "Transformers spend the same compute on every token; we route tokens around blocks "
        "and save 50% FLOPs."
    )
    assert video.title == "Video Diffusion without & Attention"
    assert video.abstract == "We generate videos with O(n) memory." and video.popularity == 7


def test_json_feed_fields() -> None:
    result = parse("blog.json", FeedSpec("blog", "x"), "application/feed+json")
    post, note = result.entries
    assert post.key == "url:blog.example.org/posts/1"
    assert post.title == "Why we moved to JSON Feed & back"
    assert post.abstract == "First paragraph & more.\n\nSecond paragraph."
    assert post.published == datetime(2024, 3, 10, 11, 0, tzinfo=UTC)
    assert post.authors == ("Blog Team",) and post.categories == ("feeds", "json")
    assert note.key == "guid:2" and note.published == NOW and note.authors == ("Mo Rahman",)
    assert note.abstract == "Plain text\n\nwith two paragraphs."


def test_rss_blog_text_cleaning_keys_and_missing_dates() -> None:
    result = parse("blog.rss", FeedSpec("lab", "x"), "application/rss+xml")
    post, dataset = result.entries
    assert post.title == "Our paper at ACL & what we learned"
    assert post.abstract == "We present three findings.\n\nDOI below."
    assert post.key == "url:lab.example.org/news/acl-2024"
    assert post.published == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    assert post.authors == ("Example Lab",)
    assert dataset.key == "guid:dataset-2024-02" and dataset.published == NOW


def test_cross_listed_paper_merges_into_one_entry() -> None:
    cl = parse("arxiv-cs.CL.rss", FeedSpec("cs.CL", "x", "arxiv")).entries
    lg = parse("arxiv-cs.LG.atom", FeedSpec("cs.LG", "x", "arxiv")).entries
    merged = {e.key: e for e in combine(cl + lg)}
    assert sorted(merged) == ["arxiv:2403.05001", "arxiv:2403.05002", "arxiv:2403.06892"]
    knn = merged["arxiv:2403.05002"]
    assert knn.feeds == ("cs.CL", "cs.LG")
    assert knn.categories == ("cs.LG", "cs.CL", "stat.ML")
    assert not is_update(cl[1], lg[0])


def test_hf_and_arxiv_sightings_merge_with_popularity() -> None:
    lg = parse("arxiv-cs.LG.atom", FeedSpec("cs.LG", "x", "arxiv")).entries
    hf = parse("hf-daily-papers.json", FeedSpec("hf", "x", "hf-daily-papers")).entries
    arxiv_first = merge_entries(lg[1], hf[0])
    hf_first = merge_entries(hf[0], lg[1])
    for merged in (arxiv_first, hf_first):
        assert merged.key == "arxiv:2403.06892"
        assert merged.popularity == 42 and set(merged.feeds) == {"cs.LG", "hf"}
        assert merged.categories == ("cs.LG",) and merged.version == 1
        assert merged.published == datetime(2024, 3, 11, 4, 0, tzinfo=UTC)
    assert arxiv_first.link == "https://arxiv.org/abs/2403.06892"
    later = replace(hf[0], popularity=99)
    assert merge_entries(arxiv_first, later).popularity == 99


def test_replace_is_an_update_and_its_text_wins() -> None:
    spec = FeedSpec("cs.CL", "x", "arxiv", announce_types=("new", "replace"))
    new, replaced = parse("arxiv-cs.CL.rss", spec).entries
    assert new.announce_type == "new"
    original = replace(
        replaced, version=1, announce_type="new", abstract="old abstract", feeds=("cs.CV",)
    )
    assert is_update(original, replaced) and not is_update(replaced, original)
    merged = merge_entries(original, replaced)
    assert merged.version == 3 and merged.announce_type == "replace"
    assert merged.abstract.startswith("Weakly supervised") and merged.feeds == ("cs.CV", "cs.CL")
    hf_style = replace(original, version=None, announce_type=None)
    assert is_update(hf_style, replaced)
    with pytest.raises(ValueError, match="cannot merge"):
        merge_entries(original, replace(replaced, key="arxiv:other"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oai:arXiv.org:2403.04790v2", ("2403.04790", 2)),
        ("https://arxiv.org/abs/2403.04790", ("2403.04790", None)),
        ("http://export.arxiv.org/pdf/2403.04790v1.pdf", ("2403.04790", 1)),
        ("hep-th/9901001v3", ("hep-th/9901001", 3)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("https://example.org/abs/2403.04790", None),
        ("2403.04790 and more", None),
        ("oai:arXiv.org:\u0662\u0664\u0660\u0663.\u0660\u0664\u0667\u0669\u0660", None),
    ],
)
def test_parse_arxiv_id(text: str, expected: tuple[str, int | None] | None) -> None:
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.org:443/a/b/?utm_source=x&b=2&a=1", "example.org/a/b?a=1&b=2"),
        ("http://example.org/2017/06/26#a1253", "example.org/2017/06/26"),
        ("http://example.org", "example.org"),
        ("http://example.org:8080/x", "example.org:8080/x"),
        ("mailto:someone@example.org", None),
        ("http://[::1", None),
    ],
)
def test_normalise_url(url: str, expected: str | None) -> None:
    assert normalise_url(url) == expected


def test_fragments_tell_apart_posts_of_one_document_that_share_a_page() -> None:
    assert normalise_url("http://example.org/x#a12", keep_fragment=True) == "example.org/x#a12"
    assert normalise_url("http://example.org/x#:~:text=hi", keep_fragment=True) == "example.org/x"


def test_canonical_key_precedence_and_doi() -> None:
    assert canonical_key(arxiv_id="2403.1", doi="10.1/x", link="http://a.b/c") == "arxiv:2403.1"
    assert canonical_key(doi="10.1/x", link="http://a.b/c") == "doi:10.1/x"
    assert canonical_key(link="http://a.b/c", guid="g") == "url:a.b/c"
    assert canonical_key(link="not a url", guid=" g ") == "guid:g"
    assert canonical_key(fallback="t").startswith("guid:sha256:")
    assert find_doi("https://doi.org/10.1145/3292500.3330701") == "10.1145/3292500.3330701"
    assert find_doi("doi:10.1000/ABC.", None) == "10.1000/abc"
    assert find_doi("https://example.org/10.1000/x") is None


def test_text_cleaning() -> None:
    assert line("  A\n  title &amp; more  ") == "A title & more"
    assert line("<b>Bold</b> &lt;tag&gt;", html=True) == "Bold <tag>"
    assert paragraphs(
        "<p>One $^3$ \\alpha</p><script>x()</script><p>Two&nbsp;x</p>", html=True
    ) == ("One $^3$ \\alpha\n\nTwo x")
    assert people("A. One, B. Two and C. Three") + people("D. Four; E. Five") == (
        "A. One", "B. Two", "C. Three", "D. Four", "E. Five",
    )  # fmt: skip


def test_health_phrases() -> None:
    assert health(None) == "not fetched yet"
    new = FeedState(url="u", consecutive_failures=1, last_error="HTTP 503")
    assert health(new) == "not fetched yet (retrying after: HTTP 503)"
    ok = FeedState(url="u", last_success=NOW, last_entry_count=5)
    assert health(ok) == "ok"
    assert health(replace(ok, last_entry_count=0)) == "quiet (no new entries)"
    failing = replace(ok, consecutive_failures=2, last_error="HTTP 500", failing_since=NOW)
    assert health(failing) == "ok"
    assert health(failing, threshold=2) == (
        "failing since 2024-03-12 06:00 UTC (2 failed fetches in a row): HTTP 500"
    )
    assert health(replace(ok, disabled="HTTP 410 Gone")) == "disabled: HTTP 410 Gone"


@pytest.mark.parametrize(
    ("body", "spec_type", "message"),
    [
        (b"", "feed", "empty"),
        (b"   \n", "feed", "empty"),
        (b"{}", "feed", "not a JSON Feed"),
        (b"[1, 2]", "feed", "not a JSON Feed"),
        (b"{not json", "feed", "not valid JSON"),
        (b"{}", "hf-daily-papers", "expected a JSON array"),
        (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "feed", "not a readable feed"),
        (b"[" * 100_000, "hf-daily-papers", "not valid JSON"),
    ],
)
def test_bad_documents_are_errors_not_exceptions(body: bytes, spec_type: str, message: str) -> None:
    result = parse_document(
        body, content_type=None, location="https://x/", spec=FeedSpec("f", "x", spec_type), now=NOW
    )
    assert result.entries == () and result.error is not None and message in result.error


HOSTILE_JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "t",
        "items": [
            {
                "id": "https://blog.example.org/1\u202e",
                "url": "https://blog.example.org/1",
                "title": "Attention \ud800is \u202eall\u202c you\x00 need\u2028",
                "content_text": "First\u2029Second \udfff line\x85third",
                "authors": [{"name": "Ana\u200b Lima"}, {"name": "Ana Lima"}],
                "tags": ["n\u00adlp", "\x1b[31mred"],
                "attachments": [
                    {"url": "https://x.org/\u202epaper.pdf", "mime_type": "application/pdf"}
                ],
            }
        ],
    }
).encode()


def test_lone_surrogates_and_controls_never_leave_the_parser(project: Project) -> None:
    # Issue 12: this title crashed `fetch` and `send` with UnicodeEncodeError when stored.
    result = parse_document(
        HOSTILE_JSON_FEED, content_type="application/feed+json", location="https://x/",
        spec=FeedSpec("blog", "x"), now=NOW,
    )  # fmt: skip
    (entry,) = result.entries
    assert entry.title == "Attention \ufffdis all you need"
    assert entry.abstract == "First\n\nSecond \ufffd line third"
    assert entry.authors == ("Ana Lima", "Ana Lima")  # two people may share a name
    assert entry.categories == ("nlp", "[31mred")
    assert entry.pdf_link is None and entry.key == "url:blog.example.org/1"
    store = Store.open(load_config(project.config).database_url)
    try:
        store_entries(store, [entry], now=NOW)
        (stored,) = store.all_entries()
    finally:
        store.close()
    assert (stored.title, stored.abstract, stored.authors) == (
        entry.title, entry.abstract, entry.authors,
    )  # fmt: skip


def test_markup_smuggled_into_rss_is_read_and_cleaned() -> None:
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><item>"
        b"<title>Safe &amp;#x202E;txt.exe &amp;lt;b&amp;gt;</title>"
        b"<link>https://lab.example.org/a\xe2\x80\x8b</link><guid isPermaLink='false'>g1</guid>"
        b"<description>&lt;p&gt;If a&lt;b then 1&lt;p&lt;2&lt;/p&gt;"
        b"&lt;p&gt;x &amp;#xD800; y&lt;/p&gt;</description></item></channel></rss>"
    )
    result = parse_document(
        body, content_type=None, location="https://x/", spec=FeedSpec("lab", "x"), now=NOW
    )
    (entry,) = result.entries
    assert entry.title == "Safe txt.exe <b>"
    assert entry.abstract == "If a<b then 1<p<2\n\nx \ufffd y"
    assert entry.link == "" and entry.key == "guid:g1"  # a link with a zero-width space is dropped
