"""Operator overrides: `trusted`, `blocked` or a forced tier, and quota multipliers (a big
customer gets more), per account or per cluster.

An override is plain data (scope, subject, tier, expiry, note), like a CrowdSec decision. The
engine's verdict is computed as usual and the override replaces its tier afterwards, so the
reasons an operator reads still say what the engine saw.

Every replica must see a change, yet the request path must not pay a Redis round trip for it:
each replica keeps the overrides in a local dict and checks a version token in Redis at most
once per `GUARDGATE_OVERRIDE_POLL_INTERVAL`, reloading the whole hash only when it moved. A
replica that sets or clears an override applies it to its own cache at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from redis.asyncio import Redis, RedisCluster

from guardgate.model import Tier, Verdict

logger = logging.getLogger("guardgate")

Clock = Callable[[], float]

__all__ = [
    "MemoryOverrideBackend",
    "Override",
    "OverrideBackend",
    "OverrideBook",
    "OverrideScope",
    "RedisOverrideBackend",
]


class OverrideScope(StrEnum):
    """What an override names: one account (its HMAC id) or one cluster (its id)."""

    ACCOUNT = "account"
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class Override:
    """One operator decision about an account or a cluster."""

    scope: OverrideScope
    subject: str
    tier: Tier | None
    """The tier in force instead of the engine's; None leaves the engine's tier."""
    set_at: float
    expires_at: float | None = None
    """Unix time after which the override no longer applies; None keeps it until cleared."""
    note: str = ""
    """Why the operator set it (free text, shown in the dashboard and the audit log)."""
    quota: float | None = None
    """Multiplier of this subject's quotas (an account's own limits, or a cluster's); None
    keeps the configured ones. It applies on top of the tier's share."""

    @property
    def key(self) -> str:
        """The field this override is stored under: `<scope>:<subject>`."""
        return f"{self.scope.value}:{self.subject}"

    def active(self, now: float) -> bool:
        """Whether the override applies at `now`."""
        return self.expires_at is None or now < self.expires_at

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the admin API's and Redis's representation)."""
        return {
            "scope": self.scope.value,
            "subject": self.subject,
            "tier": None if self.tier is None else self.tier.value,
            "quota": self.quota,
            "set_at": self.set_at,
            "expires_at": self.expires_at,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Override:
        """The inverse of `as_json`; raises ValueError or KeyError on malformed data."""
        expires = data.get("expires_at")
        tier = data.get("tier")
        quota = data.get("quota")
        if tier is None and quota is None:
            raise ValueError("an override sets a tier, a quota or both")
        return cls(
            scope=OverrideScope(data["scope"]),
            subject=str(data["subject"]),
            tier=None if tier is None else Tier(tier),
            set_at=float(data["set_at"]),
            expires_at=None if expires is None else float(expires),
            note=str(data.get("note", "")),
            quota=None if quota is None else float(quota),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _key(scope: OverrideScope, subject: str) -> str:
    return f"{scope.value}:{subject}"


class OverrideBackend(Protocol):
    """Where overrides are kept: shared by replicas (Redis) or in this process (memory)."""

    async def start(self) -> None:
        """Open connections."""

    async def close(self) -> None:
        """Close connections."""

    async def version(self) -> str:
        """A token that changes whenever an override is set or cleared."""
        ...

    async def load(self) -> tuple[str, dict[str, Override]]:
        """The version and every stored override, read together."""
        ...

    async def put(self, override: Override) -> None:
        """Store (or replace) an override and move the version."""

    async def delete(self, scope: OverrideScope, subject: str) -> bool:
        """Remove an override and move the version; whether there was one."""
        ...


class MemoryOverrideBackend:
    """Overrides of one process (the embedded default)."""

    def __init__(self) -> None:
        self._items: dict[str, Override] = {}
        self._version = 0

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def version(self) -> str:
        """The change counter."""
        return str(self._version)

    async def load(self) -> tuple[str, dict[str, Override]]:
        """A copy of every override."""
        return str(self._version), dict(self._items)

    async def put(self, override: Override) -> None:
        """Store an override."""
        self._items[override.key] = override
        self._version += 1

    async def delete(self, scope: OverrideScope, subject: str) -> bool:
        """Remove an override."""
        found = self._items.pop(_key(scope, subject), None) is not None
        self._version += 1
        return found


class RedisOverrideBackend:
    """Overrides in one Redis hash plus a version token, both under one hash tag (so Redis
    Cluster sees no cross-slot transaction)."""

    def __init__(self, client: Redis | RedisCluster, *, prefix: str = "guardgate:override") -> None:
        self.client = client
        tag = "{" + prefix + "}"
        self._items = f"{tag}:items"
        self._version = f"{tag}:version"

    async def start(self) -> None:
        """Connections open lazily."""

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()

    async def version(self) -> str:
        """A random token set by every change ('' before the first one).

        Random rather than a counter: a Redis restarted empty must not come back with a version
        some replica already holds, or that replica would keep overrides that are gone.
        """
        raw = await self.client.get(self._version)
        return _text(raw) if raw is not None else ""

    async def load(self) -> tuple[str, dict[str, Override]]:
        """Version and overrides from one transaction, so they agree."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.get(self._version)
            pipe.hgetall(self._items)
            raw_version, raw_items = await pipe.execute()
        items: dict[str, Override] = {}
        for field, value in raw_items.items():
            try:
                override = Override.from_json(json.loads(value))
            except (ValueError, KeyError, TypeError):
                logger.warning("ignoring a malformed override stored under %r", field)
                continue
            items[override.key] = override
        return (_text(raw_version) if raw_version is not None else ""), items

    async def put(self, override: Override) -> None:
        """HSET and a new version in one transaction."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._items, override.key, json.dumps(override.as_json()))
            pipe.set(self._version, uuid.uuid4().hex)
            await pipe.execute()

    async def delete(self, scope: OverrideScope, subject: str) -> bool:
        """HDEL and a new version in one transaction."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self._items, _key(scope, subject))
            pipe.set(self._version, uuid.uuid4().hex)
            removed, _version = await pipe.execute()
        return bool(removed)


class OverrideBook:
    """This replica's view of the overrides: a local cache kept in step with the backend.

    `lookup` and `apply` are synchronous dict lookups, cheap enough for every request.
    """

    def __init__(
        self,
        backend: OverrideBackend,
        *,
        clock: Clock = time.time,
        poll_interval: float = 1.0,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.poll_interval = poll_interval
        self.faults = 0
        """Polls that failed (the cache is kept as it was; logged once per outage)."""
        self._items: dict[str, Override] = {}
        self._version: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        """Load the overrides and start polling for changes made on other replicas."""
        if self._task is not None:
            return
        await self.backend.start()
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def close(self) -> None:
        """Stop polling and close the backend."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.backend.close()

    async def refresh(self) -> bool:
        """Reload the cache if the backend's version moved; whether it was reloaded. Never
        raises: a backend fault keeps the last known overrides."""
        try:
            version = await self.backend.version()
            if version == self._version:
                self._recovered()
                return False
            version, items = await self.backend.load()
        except Exception:
            self.faults += 1
            if not self._failing:
                self._failing = True
                logger.exception("reading operator overrides failed; keeping the last known ones")
            return False
        self._recovered()
        self._items = items
        self._version = version
        return True

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("reading operator overrides works again")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            await self.refresh()

    def lookup(self, account: str, cluster: str = "") -> Override | None:
        """The override that sets the tier of `account` (first) or of its `cluster`, if any."""
        items = self._items
        if not items:
            return None
        now = self.clock()
        found = items.get("account:" + account)
        if found is not None and found.tier is not None and found.active(now):
            return found
        if cluster:
            found = items.get("cluster:" + cluster)
            if found is not None and found.tier is not None and found.active(now):
                return found
        return None

    def quota_multipliers(self, account: str, cluster: str = "") -> tuple[float, float]:
        """The operator's multipliers of `account`'s own quotas and of its `cluster`'s
        (1.0 where none is set)."""
        items = self._items
        if not items:
            return 1.0, 1.0
        now = self.clock()
        multipliers = [1.0, 1.0]
        for i, key in enumerate(("account:" + account, "cluster:" + cluster if cluster else "")):
            found = items.get(key) if key else None
            if found is not None and found.quota is not None and found.active(now):
                multipliers[i] = found.quota
        return multipliers[0], multipliers[1]

    def get(self, scope: OverrideScope, subject: str) -> Override | None:
        """The override in force on exactly this subject, if any."""
        found = self._items.get(_key(scope, subject))
        return found if found is not None and found.active(self.clock()) else None

    def apply(self, verdict: Verdict) -> Verdict:
        """`verdict` with its tier replaced by the operator's, when an override applies."""
        if not self._items:
            return verdict  # none set: the common case, without a call to `lookup`
        override = self.lookup(verdict.account, verdict.cluster)
        if override is None or override.tier is None or override.tier is verdict.tier:
            return verdict
        reason = f"operator override on {override.scope.value}: {override.tier.value}"
        if override.note:
            reason += f" ({override.note})"
        return replace(verdict, tier=override.tier, reasons=(reason, *verdict.reasons))

    def active(self) -> list[Override]:
        """Every override in force now, newest first."""
        now = self.clock()
        live = [o for o in self._items.values() if o.active(now)]
        return sorted(live, key=lambda o: o.set_at, reverse=True)

    async def set(
        self,
        scope: OverrideScope,
        subject: str,
        tier: Tier | None,
        *,
        ttl: float | None = None,
        note: str = "",
        quota: float | None = None,
    ) -> Override:
        """Set an override (replacing any on the same subject) and apply it here at once: a
        tier, a quota multiplier, or both."""
        if tier is None and quota is None:
            raise ValueError("an override sets a tier, a quota or both")
        now = self.clock()
        override = Override(
            scope=scope,
            subject=subject,
            tier=tier,
            set_at=now,
            expires_at=None if ttl is None else now + ttl,
            note=note,
            quota=quota,
        )
        await self.backend.put(override)
        self._items = {**self._items, override.key: override}
        self._version = None  # reload at the next poll, whatever the backend holds then
        return override

    async def clear(self, scope: OverrideScope, subject: str) -> bool:
        """Remove the override on a subject; whether there was one in force."""
        key = _key(scope, subject)
        existing = self._items.get(key)
        removed = await self.backend.delete(scope, subject)
        items = dict(self._items)
        items.pop(key, None)
        self._items = items
        self._version = None
        return removed and (existing is None or existing.active(self.clock()))
