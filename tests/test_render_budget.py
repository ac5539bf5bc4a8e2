"""The size budget and the cut: abstracts shrink first, then extra papers become title links;
the budget counts the encoded HTML part, and one wording says what was cut and why."""

from __future__ import annotations

import re

import test_render_support as support

from newsletter.records import DigestLinks
from newsletter.render import Renderer
from newsletter.render.encoding import encode_part
from newsletter.render.views import ABSTRACT_LIMITS


def card_count(html: str) -> int:
    return len(re.findall(r'<table role="presentation" class="card"', html))


def longest_abstract_shown(html: str) -> int:
    texts = re.findall(r'<p class="abstract"[^>]*>(.*?)</p>', html)
    return max(len(re.sub(r"<[^>]+>", "", t)) for t in texts)


def test_abstracts_are_shortened_before_papers_are_dropped() -> None:
    digest = support.digest(entries=support.longest_entries(25))
    full = Renderer(support.settings(), verify=False).render(digest, support.LINKS)
    assert longest_abstract_shown(full.html) > ABSTRACT_LIMITS[1] + 1
    tight = Renderer(support.settings(max_html_bytes=full.html_size - 2_000), verify=False).render(
        digest, support.LINKS
    )
    assert tight.html_size <= full.html_size - 2_000
    assert card_count(tight.html) == 25, "shorter abstracts, every paper still a card"
    assert longest_abstract_shown(tight.html) <= ABSTRACT_LIMITS[1] + 1


def test_the_budget_counts_encoded_bytes() -> None:
    """Quoted-printable makes ~100,000 decoded bytes ~107,500 sent: past Gmail's clip. A
    digest whose HTML fits a budget decoded but not encoded must be shortened."""
    digest = support.digest(entries=support.longest_entries(25))
    roomy = Renderer(support.settings(max_html_bytes=500_000), verify=False)
    full = roomy.render(digest, support.LINKS)
    decoded, encoded = len(full.html.encode()), full.html_size
    assert full.html_qp == encode_part(full.html)
    assert encoded > decoded * 1.03
    budget = (decoded + encoded) // 2
    out = Renderer(support.settings(max_html_bytes=budget), verify=False).render(
        digest, support.LINKS
    )
    assert out.html_size <= budget < encoded
    assert longest_abstract_shown(out.html) < longest_abstract_shown(full.html)


def test_overflow_becomes_a_list_of_title_links_and_always_fits() -> None:
    entries = [support.entry(i) for i in range(80)]
    budget = 60_000
    out = Renderer(support.settings(max_html_bytes=budget), verify=False).render(
        support.digest(entries=entries), support.LINKS
    )
    assert out.html_size <= budget
    shown = card_count(out.html)
    assert 0 < shown < 80
    more = 80 - shown
    assert f"And {more} more matches" in out.html and f"And {more} more matches" in out.text
    reason = "Listed by title only, to keep this email small enough to open in full."
    assert reason in out.html and reason in out.text
    hidden = entries[-1]
    assert f'href="{hidden.link}"' in out.html and hidden.link in out.text
    assert "80 new papers" in out.subject


def test_matches_past_max_items_are_counted_and_linked() -> None:
    digest = support.digest(6, omitted=14)
    out = Renderer(support.settings(), verify=False).render(digest, support.ALL_LINKS)
    assert card_count(out.html) == 6
    for part in (out.html, out.text):
        assert "And 14 more matches" in part
        assert "Not included: a digest holds at most 6 papers." in part
    assert f'<a class="section-link" href="{support.ALL}"' in out.html
    assert f"See all matches: {support.ALL}" in out.text
    plain = Renderer(support.settings(), verify=False).render(digest, support.LINKS)
    assert "And 14 more matches" in plain.html and support.ALL not in plain.html
    assert "See all matches" not in plain.text


def test_both_causes_are_named_in_one_line() -> None:
    entries = [support.entry(i) for i in range(60)]
    digest = support.digest(entries=entries, omitted=1)
    out = Renderer(support.settings(max_html_bytes=40_000), verify=False).render(
        digest, DigestLinks(support.UNSUBSCRIBE, all_url=support.ALL)
    )
    listed = 60 - card_count(out.html)
    assert listed > 1
    for part in (out.html, " ".join(out.text.split())):
        assert f"And {listed + 1} more matches" in part
        assert (
            f"{listed} are listed by title only, to keep this email small enough to open in "
            "full; 1 is not included: a digest holds at most 60 papers."
        ) in part


def test_nothing_cut_means_no_cut_line() -> None:
    out = Renderer(support.settings(), verify=False).render(support.digest(4), support.ALL_LINKS)
    assert "more match" not in out.html and "more match" not in out.text
