"""The detection engine: turns an observation into a verdict. One engine serves every door
(middleware, sidecar, replay); no door has detection logic of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from guardgate.linking import Linker, LinkingConfig, Membership
from guardgate.model import Observation, Tier, Verdict
from guardgate.settings import GuardgateSettings
from guardgate.store import MemoryStore, RedisStore, Store

logger = logging.getLogger("guardgate")

_FLUSH_AT = 256


class Engine:
    """Links the sender of each request to its cluster and returns the verdict on it.

    State lives in a `Store`: in memory by default, in Redis when `GUARDGATE_REDIS_URL` is set.
    The request path costs one store round trip; writing links and re-clustering run in the
    background, triggered by request time (`Observation.ts`), so replay behaves like live
    traffic. Scoring is not in place yet: every verdict is `normal` with score 0.
    """

    def __init__(
        self,
        settings: GuardgateSettings,
        *,
        store: Store | None = None,
        config: LinkingConfig | None = None,
    ) -> None:
        self.settings = settings
        self.config = config if config is not None else LinkingConfig.from_settings(settings)
        if store is None:
            if settings.redis_url:
                store = RedisStore.from_url(
                    settings.redis_url, self.config.limits, timeout=settings.redis_timeout
                )
            else:
                store = MemoryStore(self.config.limits)
        self.store: Store = store
        self.linker = Linker(store, self.config)
        self.background_failures = 0
        """Background flushes or re-clusterings that failed (each logged)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = False

    async def start(self) -> None:
        """Open the store's connections."""
        await self.store.start()

    async def close(self) -> None:
        """Finish background work, write queued links, close connections."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.linker.flush()
        except Exception:
            self._failed("flushing links on close")
        await self.store.close()

    async def observe(self, obs: Observation) -> Verdict:
        """Record one request and return the verdict on its sender (one store round trip)."""
        member: Membership = await self.linker.observe(obs)
        if self.linker.due(obs.ts):
            self._spawn(self._recluster(obs.ts))
        elif len(self.linker.pending) >= _FLUSH_AT:
            self._spawn(self._flush())
        return Verdict(
            account=obs.account,
            cluster=member.cluster,
            score=0.0,
            tier=Tier.NORMAL,
            cluster_size=member.size,
        )

    async def record_usage(
        self, verdict: Verdict, prompt_tokens: int, completion_tokens: int, now: float
    ) -> None:
        """Record the tokens one answered request cost (after the response ended)."""

    async def recluster(self, now: float) -> None:
        """Write queued links and rebuild clusters now (replay and tests call this directly)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.linker.recluster(now)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._busy:
            work.close()
            return
        self._busy = True
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._busy = False

    async def _flush(self) -> None:
        try:
            await self.linker.flush()
        except Exception:
            self._failed("writing links")

    async def _recluster(self, now: float) -> None:
        try:
            result = await self.linker.recluster(now)
        except Exception:
            self._failed("re-clustering")
            return
        if result is not None:
            logger.info(
                "re-clustered: %d links, %d clusters, %d accounts, largest %d",
                result.links,
                result.clusters,
                result.clustered_accounts,
                result.largest,
            )

    def _failed(self, what: str) -> None:
        # Background work never reaches a client; it is counted and logged with its context.
        self.background_failures += 1
        logger.exception("guardgate background work failed while %s", what)
