"""Client addresses: home broadband, mobile carrier NAT, cloud hosts, campuses, offices, proxies.

Residential proxy exits are real home connections, so farms draw their addresses from the same
kind of ISP ranges as ordinary users: the range alone never tells a farm apart.
"""

from __future__ import annotations

import random

# First octets typical of large consumer ISPs in North America, Europe and Asia.
_RESIDENTIAL_FIRST = (
    24, 47, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 96, 97, 98, 99, 107, 108, 173, 174,
    2, 5, 31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92,
    93, 94, 95, 109, 151, 176, 178, 188, 212, 213, 217,
    1, 14, 27, 36, 39, 42, 49, 58, 59, 60, 61, 101, 110, 111, 112, 113, 114, 115, 116,
    117, 118, 119, 120, 121, 122, 123, 124, 125, 180, 182, 183, 203, 218, 219, 220, 221,
)  # fmt: skip

# Mobile carriers put many subscribers behind a few public egress addresses (CGNAT).
_CARRIER_PREFIXES = (
    "172.56", "172.58", "174.205", "166.137", "166.205", "107.77", "100.34",
    "92.40", "31.94", "188.29", "176.12", "117.136", "223.104",
)  # fmt: skip

# Cloud and hosting ranges (large providers' public blocks).
_CLOUD_PREFIXES = (
    "3.91", "3.137", "13.57", "18.204", "18.217", "20.42", "20.81", "34.74", "34.121",
    "35.188", "35.233", "44.201", "44.226", "52.14", "52.87", "54.162", "54.210",
    "65.108", "88.198", "135.181", "138.68", "159.89", "164.90", "167.99", "143.198",
)  # fmt: skip

_CAMPUS_PREFIXES = ("128.32", "171.64", "129.105", "141.211", "130.126", "128.2", "155.198")
_OFFICE_PREFIXES = ("198.51", "204.14", "209.17", "63.118", "66.249", "216.52")


def _octet(rng: random.Random) -> int:
    return rng.randint(1, 254)


def residential_slash24(rng: random.Random) -> str:
    """A random consumer-ISP /24, as its first three octets."""
    return f"{rng.choice(_RESIDENTIAL_FIRST)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"


def residential_ip(rng: random.Random) -> str:
    """A home broadband address."""
    return f"{residential_slash24(rng)}.{_octet(rng)}"


def cloud_ip(rng: random.Random) -> str:
    """An address of a cloud or hosting provider."""
    return f"{rng.choice(_CLOUD_PREFIXES)}.{rng.randint(0, 255)}.{_octet(rng)}"


def office_ip(rng: random.Random) -> str:
    """A business connection's NAT address."""
    return f"{rng.choice(_OFFICE_PREFIXES)}.{rng.randint(0, 255)}.{_octet(rng)}"


def campus_prefix(rng: random.Random) -> str:
    """A university's /16, as its first two octets."""
    return rng.choice(_CAMPUS_PREFIXES)


def campus_ip(rng: random.Random, prefix: str) -> str:
    """A dorm or lab address inside a campus /16."""
    return f"{prefix}.{rng.randint(0, 255)}.{_octet(rng)}"


class CarrierNat:
    """The shared egress addresses of a few mobile carriers; each session draws one."""

    def __init__(self, rng: random.Random, carriers: int = 6, egress_per_carrier: int = 12) -> None:
        """Pick `carriers` carrier prefixes with `egress_per_carrier` NAT addresses each."""
        prefixes = rng.sample(_CARRIER_PREFIXES, min(carriers, len(_CARRIER_PREFIXES)))
        # Carriers announce their NAT egress from a couple of /24s each.
        self.pools: list[list[str]] = []
        for p in prefixes:
            nets = [f"{p}.{rng.randint(0, 255)}" for _ in range(2)]
            self.pools.append(
                [f"{rng.choice(nets)}.{_octet(rng)}" for _ in range(egress_per_carrier)]
            )

    def carrier_for(self, rng: random.Random) -> int:
        """The carrier a new subscriber is with."""
        return rng.randrange(len(self.pools))

    def egress(self, rng: random.Random, carrier: int) -> str:
        """The NAT address a subscriber of `carrier` shows for one session."""
        return rng.choice(self.pools[carrier])


class ProxyNetwork:
    """A residential proxy provider: exits spread over many ISP /24s, handed out per request."""

    def __init__(self, rng: random.Random, slash24s: int, exits_per_24: int = 4) -> None:
        """Build `slash24s` subnets, each with a handful of exit hosts."""
        self._exits: list[str] = []
        for _ in range(slash24s):
            net = residential_slash24(rng)
            hosts = rng.sample(range(2, 254), exits_per_24)
            self._exits.extend(f"{net}.{h}" for h in hosts)

    def exit(self, rng: random.Random) -> str:
        """A fresh exit address (the provider rotates on every new connection)."""
        return rng.choice(self._exits)

    @property
    def size(self) -> int:
        """How many exit addresses the network has."""
        return len(self._exits)
