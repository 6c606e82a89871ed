"""Concurrent streams per account: a lease taken before forwarding, released when the answer ends.

A lease that is never released (a replica killed mid-stream) expires after `LEASE_TTL` seconds,
so a crash cannot lock an account out for longer than that.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any, Protocol

LEASE_TTL = 900.0
"""Seconds before an unreleased lease expires; streams longer than this stop being counted."""


class ConcurrencyGate(Protocol):
    """Leases of concurrent streams, counted per subject."""

    async def acquire(self, subject: str, limit: int, lease: str) -> bool:
        """Take a lease unless `limit` leases are held; True when taken."""
        ...

    async def release(self, subject: str, lease: str) -> None:
        """Give a lease back (a lease not held is ignored)."""
        ...


class MemoryConcurrency:
    """Leases held in this process."""

    def __init__(self, ttl: float = LEASE_TTL) -> None:
        self.ttl = ttl
        self._leases: dict[str, dict[str, float]] = {}

    async def acquire(self, subject: str, limit: int, lease: str) -> bool:
        """Take a lease unless `limit` unexpired leases are held."""
        now = time.monotonic()
        held = self._leases.setdefault(subject, {})
        for name in [n for n, expiry in held.items() if expiry <= now]:
            del held[name]
        if len(held) >= limit:
            return False
        held[lease] = now + self.ttl
        return True

    async def release(self, subject: str, lease: str) -> None:
        """Give a lease back."""
        held = self._leases.get(subject)
        if held is not None:
            held.pop(lease, None)
            if not held:
                del self._leases[subject]


class RedisConcurrency:
    """Leases in a Redis sorted set per subject, updated atomically by a Lua script."""

    def __init__(self, client: Any, prefix: str, ttl: float = LEASE_TTL) -> None:
        self.ttl = ttl
        self._client = client
        self._prefix = prefix
        source = resources.files("guardgate.quota").joinpath("concurrency.lua").read_text()
        self._acquire = client.register_script(source)

    def _key(self, subject: str) -> str:
        # The hash tag keeps each account's set on one Redis Cluster slot.
        return f"{self._prefix}:streams:{{{subject}}}"

    async def acquire(self, subject: str, limit: int, lease: str) -> bool:
        """Take a lease unless `limit` unexpired leases are held (one round trip)."""
        # Replicas' clocks are compared here, as `limits` compares them for its windows.
        now_ms = int(time.time() * 1000)
        taken = await self._acquire(
            keys=[self._key(subject)], args=[now_ms, int(self.ttl * 1000), limit, lease]
        )
        return bool(taken)

    async def release(self, subject: str, lease: str) -> None:
        """Give a lease back (one round trip)."""
        await self._client.zrem(self._key(subject), lease)
