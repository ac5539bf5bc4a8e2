"""Email addresses checked the way the mail path needs them, in one place.

``subscribers.yaml``, ``sender``, ``bounce_address`` and (later) the web sign-up form and
CSV import all go through :func:`validate_address`, so an address that passes here is one
the MIME layer can write and an SMTP relay without SMTPUTF8 can take.

Syntax only: ``email-validator`` with ``check_deliverability=False`` (no DNS). The choices:

* A non-ASCII local part (``jöhn@example.org``) is refused: it needs SMTPUTF8, which many
  relays lack, and one such address would otherwise fail at every send.
* An internationalised domain (``bob@bücher.example``) is accepted and returned in its
  ASCII form (``bob@xn--bcher-kva.example``), which every relay understands.
* Quoted local parts, IP-address domains, display names and special-use domains
  (``.local``, ``.test``, ``localhost``) are refused, as email-validator does by default.
* The local part keeps its case (it may matter to the receiving server); the domain is
  lower-cased.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.policy import default as default_policy

from email_validator import EmailNotValidError, validate_email

from newsletter.config import characters

MAX_LOCAL_OCTETS = 64
"""RFC 5321 §4.5.3.1.1 (email-validator checks it in strict mode)."""
MAX_DISPLAY_NAME = 200
"""Characters of the name in ``Name <addr>``; it goes into every From header."""


def excerpt(value: str, limit: int = 60) -> str:
    """``repr`` of a value, cut short: a message should not echo a megabyte back."""
    return repr(value) if len(value) <= limit else repr(value[: limit - 3] + "...")


def validate_address(text: str) -> str:
    """The address in the form to store and send to (ASCII domain), or ValueError saying
    what is wrong and how to write it instead."""
    address = text.strip(" \t")
    local, at, _domain = address.rpartition("@")
    if at and not local.isascii():
        odd = next(char for char in local if not char.isascii())
        raise ValueError(
            f"{excerpt(address)} has {odd!r} before the @; such addresses need SMTPUTF8, "
            "which newsletter does not use — give an address whose part before the @ is "
            "plain ASCII"
        )
    try:
        valid = validate_email(
            address,
            check_deliverability=False,
            allow_smtputf8=False,
            strict=True,
        )
    except EmailNotValidError as exc:
        raise ValueError(
            f"{excerpt(address)} is not a valid email address: {exc} — write it as name@example.org"
        ) from None
    return valid.ascii_email or valid.normalized


def validate_domain(text: str) -> str:
    """A domain name as it may stand after the @ of an address, lower-cased, ASCII form."""
    domain = text.strip(" \t").lower()
    if not domain or "@" in domain:
        raise ValueError(
            f"{excerpt(text)} is not a domain name — write only the part after the @, "
            "e.g. example.org"
        )
    try:
        return validate_address(f"postmaster@{domain}").rpartition("@")[2]
    except ValueError:
        raise ValueError(
            f"{excerpt(text)} is not a domain name mail can be sent to — e.g. example.org"
        ) from None


def validate_sender(text: str) -> str:
    """``Name <addr>`` or a bare address; returns it with the address normalised."""
    characters.check_clean(text)
    header = default_policy.header_factory("From", text)
    found: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(found) != 1:
        raise ValueError(
            f"{excerpt(text)} must be exactly one address "
            "— write it as: Paper Digest <digest@example.org>"
        )
    name, addr_spec = found[0].display_name, found[0].addr_spec
    if "@" in addr_spec:
        address = validate_address(addr_spec)
    if "@" not in addr_spec or header.defects:
        raise ValueError(
            f"{excerpt(text)} is not an RFC 5322 address "
            "— write it as: Paper Digest <digest@example.org>"
        )
    if len(name) > MAX_DISPLAY_NAME:
        raise ValueError(
            f"the name in sender: is {len(name)} characters long; at most "
            f"{MAX_DISPLAY_NAME} fit a From header — shorten it"
        )
    return str(Address(display_name=name, addr_spec=address))
