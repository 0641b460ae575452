"""Which IP addresses an outbound request may reach, and why the others are refused."""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: never reachable, whatever the settings say.
CLOUD_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")

# IPv6 ranges that carry or translate an IPv4 address: where a network translates them they
# reach any IPv4 address (loopback, private, metadata), so they are never reached, whatever
# the settings say. IPv4-mapped addresses (::ffff:0:0/96) are not here: the host itself
# connects to the IPv4 address they hold, so that address is judged instead.
EMBEDS_IPV4: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/96", "an IPv4-compatible IPv6 address"),
        ("::ffff:0:0:0/96", "an IPv4-translated (SIIT) IPv6 address"),
        ("64:ff9b::/96", "a NAT64 IPv6 address"),
        ("64:ff9b:1::/48", "a local-use NAT64 IPv6 address"),
        ("2002::/16", "a 6to4 IPv6 address"),
        ("2001::/32", "a Teredo IPv6 address"),
        ("fec0::/10", "a deprecated site-local IPv6 address"),
    )
)


def _embeds_ipv4(address: ipaddress.IPv6Address) -> str | None:
    if address.is_loopback or address.is_unspecified:  # ::1 and :: sit inside ::/96
        return None
    return next((reason for net, reason in EMBEDS_IPV4 if address in net), None)


def refusal_reason(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` must not be reached (None when it may be).

    ``allow_private`` opens loopback and private networks (RFC 1918, unique local, CGNAT) for
    tests and one-machine setups; link-local, multicast, reserved and metadata addresses, and
    IPv6 addresses that embed or translate IPv4 (``EMBEDS_IPV4``), stay shut.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            inner = refusal_reason(address.ipv4_mapped, allow_private=allow_private)
            return None if inner is None else f"an IPv4-mapped IPv6 address of {inner}"
        if (embedded := _embeds_ipv4(address)) is not None:
            return embedded
    if address in CLOUD_METADATA:
        return "a cloud metadata address"
    for reason, hit in (
        ("a multicast address", address.is_multicast),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
    ):
        if hit:
            return reason
    private = _private_reason(address)
    if private is not None:
        return None if allow_private else private
    if not address.is_global:
        return "a reserved, non-public address"
    return None


def _private_reason(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "a carrier-grade NAT (100.64.0.0/10) address"
    if address.is_private:
        return "a private-network address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (numeric forms such as ``2130706433`` included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(found))
