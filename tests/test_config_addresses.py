"""`validate_address`: what it accepts can be written into a message and sent without SMTPUTF8."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config.addresses import validate_address, validate_domain, validate_sender


@pytest.mark.parametrize(
    ("given_text", "stored"),
    [
        ("alice@example.org", "alice@example.org"),
        ("John.Smith@Example.ORG", "John.Smith@example.org"),  # the local part keeps its case
        ("  bob+news@example.org\t", "bob+news@example.org"),
        ("bob@bücher.example", "bob@xn--bcher-kva.example"),  # IDN domain: its ASCII form
        ("o'neil@sub.example.co.uk", "o'neil@sub.example.co.uk"),
    ],
)
def test_valid_addresses_are_returned_in_the_form_to_send_to(given_text: str, stored: str) -> None:
    assert validate_address(given_text) == stored


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("jöhn@example.org", "SMTPUTF8"),
        ("alice@example.org\n", "invalid characters"),
        ("alice@example.org\r\nBcc: all@example.org", "not a valid email address"),
        ("al\x00ice@example.org", "not a valid email address"),
        ("alice@example.org\u2028", "not a valid email address"),
        ("Alice <alice@example.org>", "display name"),
        ('"a b"@example.org', "Quoting"),
        ("alice@[127.0.0.1]", "bracketed IP"),
        ("alice@localhost", "not a valid email address"),
        ("alice@printer.local", "special-use"),
        ("a" * 65 + "@example.org", "too long"),
        ("alice@" + "a" * 250 + ".org", "not a valid email address"),
        ("", "not a valid email address"),
        ("@example.org", "not a valid email address"),
        ("alice@", "not a valid email address"),
        ("alice@bob@example.org", "not a valid email address"),
        ("alice..x@example.org", "not a valid email address"),
    ],
)
def test_addresses_mail_cannot_take_are_refused_with_a_fix(text: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_address(text)
    message = str(caught.value)
    assert says in message
    assert " — " in message


def test_a_very_long_input_is_not_echoed_back_in_full() -> None:
    with pytest.raises(ValueError) as caught:
        validate_address("x" * 100_000)
    assert len(str(caught.value)) < 400


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.builds(
            lambda local, domain: f"{local}@{domain}",
            st.text(max_size=20),
            st.text(max_size=20),
        ),
        st.emails(),
    )
)
def test_whatever_is_accepted_survives_a_round_trip_through_a_message(text: str) -> None:
    try:
        address = validate_address(text)
    except ValueError:
        return
    assert address.isascii() and address.isprintable()
    assert not any(char.isspace() for char in address)
    local, _, domain = address.rpartition("@")
    assert local and domain and len(local) <= 64 and len(address) <= 254
    assert validate_address(address) == address  # the stored form is a fixed point
    message = EmailMessage()
    message["To"] = Address(addr_spec=address)
    message.set_content("x")
    data = message.as_bytes(policy=email_policy.SMTP)
    assert data.isascii()
    parsed = message_from_bytes(data, policy=email_policy.default)
    assert parsed["To"].addresses[0].addr_spec == address


def test_sender_keeps_its_name_and_normalises_the_address() -> None:
    assert (
        validate_sender("Paper Digest <digest@Example.org>") == "Paper Digest <digest@example.org>"
    )
    assert validate_sender("digest@bücher.example") == "digest@xn--bcher-kva.example"
    assert validate_sender('"Digest, Weekly" <d@example.org>') == '"Digest, Weekly" <d@example.org>'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Paper Digest", "RFC 5322"),
        ("a@example.org, b@example.org", "exactly one address"),
        ("Digest <d@example.org> extra", "RFC 5322"),
        ("Digest <dïgest@example.org>", "SMTPUTF8"),
        ("Digest\x85 <d@example.org>", "U+0085"),
        ("x" * 201 + " <d@example.org>", "at most 200"),
    ],
)
def test_bad_senders_are_refused(text: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_sender(text)
    assert says in str(caught.value)


def test_domains_are_lower_case_ascii() -> None:
    assert validate_domain("Example.ORG") == "example.org"
    assert validate_domain("Bücher.example") == "xn--bcher-kva.example"
    for bad in ("", "bob@example.org", "localhost", "-x-.org", "exa mple.org"):
        with pytest.raises(ValueError):
            validate_domain(bad)
