"""Reading what lands in the bounce mailbox: DSNs, older bounce formats, ARF complaints,
mailed unsubscribes — and anything else, which must come out as Unreadable, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.deliver.replies import find_status, reply_status
from newsletter.deliver.reports import ReportFormat, Unreadable, read_report
from newsletter.deliver.verp import (
    Route,
    envelope_sender,
    read_address,
    token_for,
    unsubscribe_address,
)
from newsletter.records import SuppressionReason
from tests.bounce_fixtures import FIXTURES, Filled, fixture

FILLED = Filled("ab2cd3ef4gh5ij", "<4f1c2e9d8b7a6c5d@example.org>", "reader@example.com")

HARD = SuppressionReason.BOUNCE_HARD
SOFT = SuppressionReason.BOUNCE_SOFT


@pytest.mark.parametrize(
    ("name", "kind", "verdict", "detail"),
    [
        ("dsn-hard.eml", ReportFormat.DSN, HARD, "5.1.1 smtp; 550 5.1.1 <reader@example.com>"),
        ("dsn-mailbox-full.eml", ReportFormat.DSN, SOFT, "5.2.2 smtp; 552-5.2.2"),
        ("dsn-delayed.eml", ReportFormat.DSN, None, "delayed: 4.4.1"),
        ("exim-hard.eml", ReportFormat.BOUNCE, HARD, "5.1.1"),
        ("qmail-hard.eml", ReportFormat.BOUNCE, HARD, "5.1.1"),
        ("arf-abuse.eml", ReportFormat.ARF, SuppressionReason.COMPLAINT, "feedback type abuse"),
        ("unsubscribe.eml", ReportFormat.UNSUBSCRIBE, SuppressionReason.UNSUBSCRIBE, "a mail"),
        ("auto-reply.eml", ReportFormat.AUTO_REPLY, None, "an automatic reply"),
    ],
)
def test_each_real_format_is_read_with_its_verdict(
    name: str, kind: ReportFormat, verdict: SuppressionReason | None, detail: str
) -> None:
    report = read_report(fixture(name, FILLED))
    assert report.format is kind
    assert report.verdict is verdict
    assert report.detail.startswith(detail)


@pytest.mark.parametrize(
    "name",
    ["dsn-hard.eml", "dsn-mailbox-full.eml", "dsn-delayed.eml", "exim-hard.eml", "arf-abuse.eml"],
)
def test_the_return_token_names_the_message(name: str) -> None:
    report = read_report(fixture(name, FILLED))
    assert report.tokens[0] == FILLED.token


def test_a_bounce_without_a_token_is_tied_to_its_message_by_the_quoted_message_id() -> None:
    report = read_report(fixture("qmail-hard.eml", FILLED))
    assert report.tokens == ()
    assert report.message_ids == (FILLED.message_id,)
    assert report.recipient == FILLED.recipient


def test_a_complaint_names_the_original_message_and_recipient() -> None:
    report = read_report(fixture("arf-abuse.eml", FILLED))
    assert report.message_ids == (FILLED.message_id,)
    assert report.recipient == FILLED.recipient


def test_other_feedback_types_are_news_not_complaints() -> None:
    data = fixture("arf-abuse.eml", FILLED).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    report = read_report(data)
    assert report.format is ReportFormat.ARF and report.verdict is None


@pytest.mark.parametrize("name", ["not-a-bounce.eml", "broken.eml"])
def test_mail_that_is_no_report_is_unreadable(name: str) -> None:
    with pytest.raises(Unreadable):
        read_report(fixture(name, FILLED))


def test_what_a_bounce_says_is_shown_without_terminal_escapes() -> None:
    data = fixture("dsn-hard.eml", FILLED).replace(
        b"Diagnostic-Code: smtp; 550", b"Diagnostic-Code: smtp; \x1b[2J\x1b]0;pwned\x07 550"
    )
    report = read_report(data)
    assert "\x1b" not in report.detail and "\x07" not in report.detail
    assert report.detail.startswith("5.1.1 smtp; [2J]0;pwned 550 5.1.1")


def test_an_upper_cased_return_address_still_names_the_message() -> None:
    data = fixture("dsn-hard.eml", FILLED)
    shouted = data.replace(FILLED.verp.encode(), FILLED.verp.upper().encode())
    assert read_report(shouted).tokens[0] == FILLED.token


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash_the_reader(data: bytes) -> None:
    check_sane(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_reports_never_crash_the_reader(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(p.name for p in FIXTURES.glob("*.eml"))))
    original = fixture(name, FILLED)
    cut = data.draw(st.integers(0, len(original)))
    junk = data.draw(st.binary(max_size=200))
    check_sane(original[:cut] + junk + original[cut:])


def check_sane(data: bytes) -> None:
    """Unreadable, or a report whose every clue has the shape the lookup expects."""
    try:
        report = read_report(data)
    except Unreadable as exc:
        assert str(exc)
        return
    assert report.verdict is None or report.verdict in SuppressionReason
    assert report.detail.isprintable() and len(report.detail) <= 300
    assert all(len(t) == 14 and t == t.lower() for t in report.tokens)
    assert all(m.startswith("<") and m.endswith(">") for m in report.message_ids)


# -- enhanced status codes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "hard"),
    [
        ("550 5.1.1 <bob@example.org>: no such user", True),
        ("550-5.1.1 The email account that you tried to reach does not exist", True),
        ("554 5.1.10 null MX", True),
        ("550 5.1.2 bad destination system address", True),
        ("553 5.1.8 bad sender's system address", False),  # about our envelope sender
        ("550 5.1.7 bad sender's mailbox address syntax", False),
        ("554 5.7.1 blocked; see https://example.net/5.1.1", False),  # only the leading code
        ("552 5.2.2 mailbox full", False),
        ("450 4.1.1 try later", False),
        ("550 no such user", False),  # no enhanced code: a refusal, not a verdict on the address
    ],
)
def test_only_a_recipient_5_1_x_code_condemns_the_address(reply: str, hard: bool) -> None:
    status = reply_status(reply)
    assert (status is not None and status.no_such_address) is hard


def test_a_status_is_found_in_prose_but_not_inside_longer_numbers() -> None:
    assert str(find_status("Sorry, no mailbox here by that name. (#5.1.1)")) == "5.1.1"
    assert find_status("version 15.1.1.2 of the server") is None
    assert str(find_status("Status: 4.4.7")) == "4.4.7"


# -- return tokens (VERP) --------------------------------------------------------------------


def test_tokens_are_short_lowercase_stable_and_secret() -> None:
    token = token_for("<abc@example.org>", "secret-one-0123456789")
    assert token == token_for("<abc@example.org>", "secret-one-0123456789")
    assert token != token_for("<abc@example.org>", "secret-two-0123456789")
    assert token != token_for("<abd@example.org>", "secret-one-0123456789")
    assert len(token) == 14 and token == token.lower() and token.isalnum()


def test_return_addresses_fit_the_local_part_and_read_back() -> None:
    local = "b" * 47  # the longest local part the config accepts for bounce_address
    bounce = f"{local}@example.org"
    token = token_for("<abc@example.org>", "secret-one-0123456789")
    for address, route in (
        (envelope_sender(bounce, token), Route.BOUNCE),
        (unsubscribe_address(bounce, token), Route.UNSUBSCRIBE),
    ):
        assert len(address.split("@")[0]) == 64
        returned = read_address(address.upper())
        assert returned is not None
        assert (returned.route, returned.token) == (route, token)
    assert read_address("bounces@example.org") is None
    assert read_address("someone+b-short@example.org") is None
