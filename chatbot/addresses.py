"""Who is on the other end of a socket: the client address the rate limits count by.

The address is the socket's peer (``scope["client"]``). A proxy's X-Forwarded-For
is read only when the peer is one of ``TRUSTED_PROXIES``, and then from the right:
each trusted proxy appends the address it saw, so the last hop that is not a
trusted proxy is the client, and anything left of it is whatever the client wrote.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(entries: Iterable[Any]) -> list[Network]:
    return [ipaddress.ip_network(str(entry), strict=False) for entry in entries]


def _parse(raw: str) -> Address | None:
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


def _within(address: Address, networks: list[Network]) -> bool:
    return any(address in network for network in networks)


def client_address(scope: dict[str, Any]) -> str | None:
    """The client's address, or ``None`` when the server does not know it (a unix
    socket, an in-process test), in which case only per-connection limits apply."""
    client = scope.get("client")
    peer = _parse(str(client[0])) if client else None
    if peer is None:
        return None
    proxies = _networks(settings.TRUSTED_PROXIES)
    if not _within(peer, proxies):
        return str(peer)
    hops = [
        hop
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
        for hop in value.decode("latin1").split(",")
    ]
    for raw in reversed(hops):
        hop = _parse(raw)
        if hop is None:
            # Only a trusted proxy writes right of the client's hop; one that wrote
            # garbage leaves its own address as the best we know.
            return str(peer)
        if not _within(hop, proxies):
            return str(hop)
    return str(peer)


def limit_key(address: str) -> str:
    """What one address counts under: an IPv6 client holds a whole /64."""
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


def is_exempt(address: str | None) -> bool:
    """Whether ``RATE_LIMIT_EXEMPT`` lists this address (a load generator, say)."""
    if address is None:
        return False
    return _within(ipaddress.ip_address(address), _networks(settings.RATE_LIMIT_EXEMPT))
