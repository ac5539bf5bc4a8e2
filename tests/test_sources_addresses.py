"""Which addresses a download may connect to: the ranges, their names, the IPv6 disguises."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.sources.addresses import refusal

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.0.0.1", "private (RFC 1918)"),
    ("172.16.5.4", "private (RFC 1918)"),
    ("172.31.255.255", "private (RFC 1918)"),
    ("192.168.1.1", "private (RFC 1918)"),
    ("100.64.0.1", "shared address space (carrier-grade NAT)"),
    ("100.127.255.254", "shared address space (carrier-grade NAT)"),
    ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "reserved (documentation)"),
    ("198.18.0.1", "reserved (benchmarking)"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%lo", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("ff02::1", "multicast"),
    ("fec0::1", "site-local"),
    ("2001:db8::1", "reserved (documentation)"),
    ("::ffff:127.0.0.1", "loopback (IPv4-mapped 127.0.0.1)"),
    ("::ffff:169.254.169.254", "link-local (IPv4-mapped 169.254.169.254)"),
    ("::ffff:0:10.0.0.1", "private (RFC 1918) (IPv4-translated 10.0.0.1)"),
    ("::127.0.0.1", "loopback (IPv4-compatible 127.0.0.1)"),
    ("64:ff9b::a9fe:a9fe", "link-local (NAT64 169.254.169.254)"),
    ("64:ff9b:1::1", "reserved (local-use NAT64)"),
    ("2002:7f00:1::", "loopback (6to4 127.0.0.1)"),
    ("2002:c0a8:0101::1", "private (RFC 1918) (6to4 192.168.1.1)"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (Teredo 127.0.0.1)"),
    ("100::1", "reserved (discard-only)"),
    ("4000::1", "reserved"),
    ("not-an-address", "not an IP address"),
]

ALLOWED = [
    "8.8.8.8",
    "151.101.1.140",
    "172.32.0.1",  # just past 172.16.0.0/12
    "100.128.0.1",  # just past 100.64.0.0/10
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_ranges_are_named(address: str, reason: str) -> None:
    assert refusal(address) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


@given(st.integers(0, 2**32 - 1))
def test_every_ipv4_disguise_gets_the_ipv4_verdict(number: int) -> None:
    v4 = IPv4Address(number)
    verdict = refusal(v4)
    disguises = {
        "IPv4-mapped": IPv6Address(0xFFFF << 32 | number),
        "NAT64": IPv6Address(0x64FF9B << 96 | number),
        "6to4": IPv6Address(0x2002 << 112 | number << 80),
    }
    for form, v6 in disguises.items():
        if verdict is None:
            assert refusal(v6) is None, v6
        else:
            assert refusal(v6) == f"{verdict} ({form} {v4})"


@given(st.integers(0, 2**32 - 1))
def test_an_allowed_ipv4_address_is_global_for_python_too(number: int) -> None:
    # Our table is written out so the verdict does not move with the Python version;
    # it must never let through what the standard library calls non-global.
    v4 = IPv4Address(number)
    if refusal(v4) is None:
        assert v4.is_global and not v4.is_multicast
