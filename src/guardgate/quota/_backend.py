"""Where quota counters live: in memory, or in Redis shared by every replica.

The counters are `limits` storage chosen by URI; `GUARDGATE_REDIS_URL` is passed through with
`async+` in front, so Redis Cluster (`redis+cluster://`) and Sentinel (`redis+sentinel://`) URIs
work as `limits` documents them. Socket timeouts come from `GUARDGATE_REDIS_TIMEOUT`, and a
failed command is retried once at once (a connection that died with a Redis restart), never with
a back-off that would hold a request.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import limits.aio.storage.memory as limits_memory
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.storage import storage_from_string
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from guardgate.quota._concurrency import ConcurrencyGate, MemoryConcurrency, RedisConcurrency
from guardgate.settings import GuardgateSettings

KEY_PREFIX = "guardgate:quota"


@dataclass(frozen=True, slots=True)
class QuotaBackend:
    """The storage of one deployment's quota counters and stream leases."""

    storage: MemoryStorage | RedisStorage
    streams: ConcurrencyGate
    shared: bool
    """Whether the state is in Redis (shared by replicas) rather than in this process."""
    client: Any = None
    """The Redis client to close at shutdown (None for memory)."""


def limits_uri(redis_url: str) -> str:
    """The `limits` async storage URI for a Redis URL (`unix://` becomes `async+redis+unix://`)."""
    if redis_url.startswith("unix://"):
        return "async+redis+" + redis_url
    return "async+" + redis_url


def clocked_memory_storage(clock: Callable[[], float]) -> MemoryStorage:
    """`limits`' in-memory storage with its windows on `clock` (unix seconds) instead of the
    wall clock, so that replay and tests on a clock of their own count quotas as live traffic
    did at those times.

    `limits` reads `time.time()` from its module; the storage's methods are rebuilt here on the
    same code with a `time` of this clock in their globals (the class is otherwise unchanged,
    and `limits` wraps the methods of a subclass again as it does its own)."""
    names = dict(vars(limits_memory))
    names["time"] = types.SimpleNamespace(time=clock)

    def rebound(function: Any) -> Any:
        inner = inspect.unwrap(function)
        copy = types.FunctionType(
            inner.__code__, names, inner.__name__, inner.__defaults__, inner.__closure__
        )
        copy.__kwdefaults__ = inner.__kwdefaults__
        return copy

    entry = type(
        "Entry", (limits_memory.Entry,), {"__init__": rebound(limits_memory.Entry.__init__)}
    )
    names["Entry"] = entry
    members = {
        name: rebound(value)
        for name, value in vars(MemoryStorage).items()
        if isinstance(value, types.FunctionType)
        and name not in ("__init__", "__getstate__", "__setstate__", "__del__")
    }
    clocked: type[MemoryStorage] = type("ClockedMemoryStorage", (MemoryStorage,), members)
    return clocked()


def build_backend(
    settings: GuardgateSettings,
    *,
    pool: Any = None,
    clock: Callable[[], float] | None = None,
) -> QuotaBackend:
    """Memory storage when no Redis URL is set (on `clock` when given), else Redis through
    redis-py's asyncio client (on the connection `pool` when given: the deployment's, shared by
    its parts; Redis counters keep the wall clock)."""
    if not settings.redis_url:
        storage = clocked_memory_storage(clock) if clock is not None else MemoryStorage()
        return QuotaBackend(storage, MemoryConcurrency(), shared=False)
    options: dict[str, Any] = {
        "implementation": "redispy",
        "key_prefix": KEY_PREFIX,
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "retry": Retry(NoBackoff(), 1),
    }
    uri = limits_uri(settings.redis_url)
    if pool is not None:
        # The deployment's pool (for Sentinel: one that follows the master): a plain storage on it.
        options["connection_pool"] = pool
        uri = "async+redis://"
    elif settings.redis_url.startswith("redis+sentinel://"):
        # Sentinels answer within the same budget as the master they name.
        options["sentinel_kwargs"] = {"socket_timeout": settings.redis_timeout}
    shared = storage_from_string(uri, **options)
    assert isinstance(shared, RedisStorage)
    client = shared.bridge.get_connection()  # type: ignore[attr-defined]
    return QuotaBackend(shared, RedisConcurrency(client, KEY_PREFIX), shared=True, client=client)
