"""The client's real address, behind trusted reverse proxies or not.

``X-Forwarded-For`` is a list that every proxy appends to, so only the part added by proxies we
run can be believed. With ``TRUSTED_PROXIES`` empty (the default) the TCP peer is the client and
the header is ignored. Otherwise, when the peer is a trusted proxy, the header is read from the
right and the first address that is not a trusted proxy is the client; a client cannot forge its
way past that by sending a header of its own, because its own entries sit to the left of the one
our proxy appended.

Throttles count per :func:`throttle_key`: an IPv4 address, or the /64 network of an IPv6 address
(one household or server usually holds a whole /64, so counting single IPv6 addresses would let
one client rotate through billions of them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from mlmcrm.settings import IPNetwork, get_settings

IPV6_THROTTLE_PREFIX = 64


def _address(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = (value or "").strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Iterable[IPNetwork]):
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Iterable[IPNetwork]
) -> str | None:
    """The address of the client that made a request.

    Args:
        peer: The TCP peer of the connection.
        forwarded_for: The ``X-Forwarded-For`` header as received (several headers joined by
            commas), or None.
        trusted_proxies: The networks of our own reverse proxies.

    Returns:
        The client's address as text, or None when the peer is not an address (a Unix socket).
    """
    proxies = tuple(trusted_proxies)
    address = _address(peer)
    if address is None or not proxies or not _trusted(address, proxies):
        return str(address) if address is not None else None
    for entry in reversed([p for p in (forwarded_for or "").split(",") if p.strip()]):
        hop = _address(entry)
        if hop is None:
            # Garbage where an address should be: nothing to its left can be believed.
            return str(address)
        address = hop
        if not _trusted(hop, proxies):
            return str(hop)
    return str(address)


def throttle_key(ip_address: str | None) -> str | None:
    """What throttles count by: the IPv4 address, or the /64 network of an IPv6 address."""
    address = _address(ip_address)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_THROTTLE_PREFIX), strict=False)
        return str(network)
    return str(address)


def from_request(peer: str | None, forwarded_for: str | None) -> str | None:
    """:func:`client_address` with this process's ``TRUSTED_PROXIES``."""
    return client_address(peer, forwarded_for, get_settings().trusted_proxies)
