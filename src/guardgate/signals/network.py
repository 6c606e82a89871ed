"""The client's network identity: its IP (believing forwarding headers only from trusted proxies)
and the prefix it shares with its neighbours."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=65536)
def _parse_ip(value: str) -> IPAddress | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # [v6]:port
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _forwarded_for(header: str) -> list[str]:
    """The `for=` values of an RFC 7239 `Forwarded` header, in order."""
    hops = []
    for element in header.split(","):
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.lower() == "for" and value:
                hops.append(value)
    return hops


class ClientAddress:
    """Resolves the client IP the way uvicorn's proxy-headers rule does: walk the forwarding chain
    from the right and stop at the first hop that is not a trusted proxy. Headers from untrusted
    peers are ignored entirely, so a client cannot choose its own address."""

    def __init__(self, trusted: Sequence[IPNetwork]) -> None:
        self._trusted = tuple(trusted)

    def is_trusted(self, ip: IPAddress | None) -> bool:
        """Whether `ip` belongs to a configured trusted proxy network."""
        return ip is not None and any(ip in net for net in self._trusted)

    def resolve(
        self, peer: str, x_forwarded_for: str | None, forwarded: str | None
    ) -> tuple[str, bool]:
        """Return `(client_ip, peer_is_trusted)`; `peer` is the TCP peer address.

        Give ONE chain: `x_forwarded_for` (any comma-separated list header: XFF, X-Real-IP) or
        `forwarded` (RFC 7239), as `GUARDGATE_FORWARDED_HEADER` names it. Reading both would let
        a client behind an edge that sets only one of them write the other itself."""
        peer_ip = _parse_ip(peer) if peer else None
        if not self.is_trusted(peer_ip):
            return (str(peer_ip) if peer_ip else peer), False
        hops = _forwarded_for(forwarded) if forwarded else []
        if not hops and x_forwarded_for:
            hops = [h for h in x_forwarded_for.split(",") if h.strip()]
        client: IPAddress | None = peer_ip
        for hop in reversed(hops):
            ip = _parse_ip(hop)
            if ip is None:
                break
            client = ip
            if not self.is_trusted(ip):
                break
        return (str(client) if client else peer), True


@lru_cache(maxsize=65536)
def ip_prefix(ip: str) -> str:
    """The /24 of an IPv4 address or the /48 of an IPv6 address, as CIDR text ('' if not an IP)."""
    parsed = _parse_ip(ip)
    if parsed is None:
        return ""
    bits = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{bits}", strict=False))
