"""Unsubscribe tokens: bound to one address, unforgeable, tamper-evident, optionally expiring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from newsletter.run.links import Links, web_link
from newsletter.tokens import BadToken, make_token, read_token

SECRET = "s3cret-for-tests-only"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
emails = st.emails() | st.text(min_size=1, max_size=60)


@given(a=emails, b=emails)
def test_a_token_names_its_own_address_only(a: str, b: str) -> None:
    assume(a != b)
    token = make_token(a, SECRET, now=NOW)
    assert read_token(token, SECRET, now=NOW) == a
    assert read_token(token, SECRET, now=NOW) != b
    assert token != make_token(b, SECRET, now=NOW)


@given(email=emails, data=st.data())
def test_any_single_character_change_is_rejected(email: str, data: st.DataObject) -> None:
    token = make_token(email, SECRET, now=NOW)
    i = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    c = data.draw(st.sampled_from(alphabet).filter(lambda ch: ch != token[i]))
    tampered = token[:i] + c + token[i + 1 :]
    with pytest.raises(BadToken):
        read_token(tampered, SECRET, now=NOW)


def test_tokens_are_url_safe() -> None:
    token = make_token("José+tag@exämple.org", SECRET, now=NOW)
    assert all(c.isalnum() or c in "-_." for c in token)


def test_a_token_made_with_another_secret_is_rejected() -> None:
    forged = make_token("alice@example.com", "attacker guess", now=NOW)
    with pytest.raises(BadToken, match="not issued by this newsletter"):
        read_token(forged, SECRET, now=NOW)


def test_swapping_payloads_between_tokens_is_rejected() -> None:
    mine = make_token("mallory@example.com", SECRET, now=NOW)
    theirs = make_token("alice@example.com", SECRET, now=NOW)
    spliced = theirs.split(".")[0] + "." + mine.split(".")[1]
    with pytest.raises(BadToken):
        read_token(spliced, SECRET, now=NOW)


@pytest.mark.parametrize("junk", ["", ".", "abc", "a.b.c", "!!!.???", "x" * 5000])
def test_malformed_tokens_are_rejected_with_a_message(junk: str) -> None:
    with pytest.raises(BadToken) as caught:
        read_token(junk, SECRET, now=NOW)
    assert str(caught.value).startswith("This link")


def test_expiry_and_clock_skew() -> None:
    token = make_token("a@example.com", SECRET, now=NOW)
    later = NOW + timedelta(days=61)
    assert read_token(token, SECRET, now=later) == "a@example.com"  # no max_age: never expires
    assert read_token(token, SECRET, now=later, max_age=timedelta(days=90)) == "a@example.com"
    with pytest.raises(BadToken, match="expired"):
        read_token(token, SECRET, now=later, max_age=timedelta(days=60))
    with pytest.raises(BadToken, match="not valid yet"):
        read_token(token, SECRET, now=NOW - timedelta(hours=1))
    assert read_token(token, SECRET, now=NOW - timedelta(minutes=1)) == "a@example.com"


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="NEWSLETTER_SECRET"):
        make_token("a@example.com", "", now=NOW)


def test_unsubscribe_url_carries_a_token_for_the_address() -> None:
    for base in ("https://example.org/news/", "https://example.org/news"):
        url = Links(base, SECRET, NOW).unsubscribe("a+b@example.com")
        prefix = "https://example.org/news/unsubscribe?token="
        assert url.startswith(prefix)
        assert read_token(url.removeprefix(prefix), SECRET, now=NOW) == "a+b@example.com"


def test_web_links_quote_what_a_url_cannot_carry() -> None:
    link = web_link("https://example.org/news/", "d/x y", token="a+b/c=d&e")
    assert link == "https://example.org/news/d/x%20y?token=a%2Bb%2Fc%3Dd%26e"
