"""Liveness and readiness of the sidecar, for load balancers and Kubernetes probes.

`/_guardgate/health` is liveness: the process is up and its event loop answers; it never looks
at anything else, so a Redis or upstream outage never gets a healthy process restarted.
`/_guardgate/ready` is readiness: Redis answers PING (when `GUARDGATE_REDIS_URL` is set) and the
upstream accepts a TCP connection. Either failing answers 503 with the part that failed. The
result is cached for `ttl` seconds, so probes from many places cost one check.

Redis is pinged through the deployment's own client (its one connection pool, with the request
path's `GUARDGATE_REDIS_TIMEOUT`): ready means Redis answers the connections requests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from guardgate.settings import GuardgateSettings
from guardgate.startup import describe_redis_failure

__all__ = ["Readiness", "ReadinessReport"]

OK = "ok"


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """The outcome of one readiness check: each part checked and `ok` or why it failed."""

    checks: tuple[tuple[str, str], ...]

    @property
    def ready(self) -> bool:
        """Whether every part answered."""
        return all(state == OK for _, state in self.checks)

    @property
    def status_code(self) -> int:
        """200 when ready, else 503."""
        return 200 if self.ready else 503

    def body(self) -> dict[str, Any]:
        """The JSON answer: `status` (`ready` or `not ready`) and each check's state."""
        return {"status": "ready" if self.ready else "not ready", "checks": dict(self.checks)}


class Readiness:
    """Checks Redis and the upstream, at most once per `ttl` seconds.

    `redis` is the deployment's client (`Deployment.redis`, None without Redis): readiness opens
    no connection of its own and closes nothing; the deployment owns the pool.
    """

    def __init__(
        self,
        settings: GuardgateSettings,
        *,
        redis: Any = None,
        check_upstream: bool = True,
        ttl: float = 2.0,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.upstream = _host_port(settings.upstream_url) if check_upstream else None
        self.ttl = ttl
        self.timeout = timeout
        self.clock = clock
        self._last: ReadinessReport | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    async def check(self) -> ReadinessReport:
        """The latest report, checked again when older than `ttl`."""
        async with self._lock:
            if self._last is None or self.clock() - self._checked_at >= self.ttl:
                checks: list[tuple[str, str]] = []
                work = []
                if self.redis is not None:
                    work.append(("redis", self._redis()))
                if self.upstream is not None:
                    work.append(("upstream", self._upstream(*self.upstream)))
                states = await asyncio.gather(*(coro for _, coro in work))
                checks = [(name, state) for (name, _), state in zip(work, states, strict=True)]
                self._last = ReadinessReport(tuple(checks))
                self._checked_at = self.clock()
            return self._last

    async def _redis(self) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.ping()
        except Exception as exc:
            return describe_redis_failure(exc)
        return OK

    async def _upstream(self, host: str, port: int) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                _reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            return "timed out"
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError):
                return "connection refused"
            return exc.strerror or type(exc).__name__
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return OK


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "127.0.0.1", port
