"""Which IP addresses a feed download may connect to: public unicast only.

A feed URL or a redirect is written by someone else; without this check it could make
us fetch (and mail) what only this machine can reach: a cloud metadata service at
169.254.169.254, an admin page on 127.0.0.1, a database on the LAN. ``refusal`` names
the range an address falls in, so the error says why; IPv6 forms that carry an IPv4
address (mapped, compatible, NAT64, 6to4, Teredo) are judged by that address.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), why)
    for net, why in (
        ("255.255.255.255/32", "broadcast"),
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
        ("192.0.2.0/24", "reserved (documentation)"),
        ("198.51.100.0/24", "reserved (documentation)"),
        ("203.0.113.0/24", "reserved (documentation)"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), why)
    for net, why in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "reserved (local-use NAT64)"),
        ("100::/64", "reserved (discard-only)"),
        ("2001:db8::/32", "reserved (documentation)"),
        ("2001:2::/48", "reserved (benchmarking)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("fc00::/7", "unique-local"),
        ("ff00::/8", "multicast"),
    )
)

_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_COMPATIBLE = IPv6Network("::/96")
_TRANSLATED = IPv6Network("::ffff:0:0:0/96")


def refusal(address: str | IPv4Address | IPv6Address) -> str | None:
    """Why a download must not connect to ``address``, or None for a public address.

    A string that is not an IP address is refused too (the resolver gave garbage).
    """
    try:
        ip = ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return "not an IP address"
    if isinstance(ip, IPv4Address):
        return next((why for net, why in _V4 if ip in net), None)
    ip = IPv6Address(int(ip))  # drop a %scope: it changes nothing about the range
    for net, why in _V6:
        if ip in net:
            return why
    embedded, form = _embedded_v4(ip)
    if embedded is not None:
        inner = refusal(embedded)
        return f"{inner} ({form} {embedded})" if inner else None
    if ip not in _GLOBAL_UNICAST:
        return "reserved"
    return None


def _embedded_v4(ip: IPv6Address) -> tuple[IPv4Address | None, str]:
    """The IPv4 address an IPv6 address stands for, if it is one of the transition forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    low = IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _TRANSLATED:
        return low, "IPv4-translated"
    if ip in _NAT64:
        return low, "NAT64"
    if ip in _COMPATIBLE:
        return low, "IPv4-compatible"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    return None, ""
