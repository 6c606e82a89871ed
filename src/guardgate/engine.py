"""The detection engine: turns an observation into a verdict. One engine serves every door
(middleware, sidecar, replay); no door has detection logic of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from guardgate.linking import Linker, LinkingConfig, Membership
from guardgate.linking.evidence import evidence_values
from guardgate.model import Observation, Verdict
from guardgate.scoring import Scorer
from guardgate.scoring.factory import scorer_from_settings
from guardgate.settings import GuardgateSettings
from guardgate.store import MemoryStore, RedisStore, Store
from guardgate.store.redis import connect, share

logger = logging.getLogger("guardgate")

_FLUSH_AT = 256


class Engine:
    """Links the sender of each request to its cluster and returns the verdict on it.

    State lives in a `Store`: in memory by default, in Redis when `GUARDGATE_REDIS_URL` is set.
    The request path costs one store round trip; writing links and re-clustering run in the
    background, triggered by request time (`Observation.ts`), so replay behaves like live
    traffic. The `Scorer` turns the sender's features (updated in the same request) and its
    cluster's cached score into the verdict's score, tier and reasons.
    """

    def __init__(
        self,
        settings: GuardgateSettings,
        *,
        store: Store | None = None,
        config: LinkingConfig | None = None,
        scorer: Scorer | None = None,
        on_evicted: Callable[[int], None] | None = None,
        on_prompts_evicted: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.config = config if config is not None else LinkingConfig.from_settings(settings)
        client: Any = None
        if store is None:
            limits = replace(self.config.limits, max_accounts=settings.max_accounts)
            if settings.redis_url:
                # One client (one connection pool) for the linking store and the feature store.
                client = connect(settings.redis_url, settings.redis_timeout)
                store = RedisStore(client, limits)
            else:
                store = MemoryStore(limits)
        self.store: Store = store
        self.linker = Linker(store, self.config)
        if scorer is None:
            scorer = scorer_from_settings(
                settings,
                client=share(client) if client is not None else None,
                on_prompts_evicted=on_prompts_evicted,
            )
        self.scorer = scorer
        self._bands = self.config.bands
        self._same_values = scorer.bands == self._bands
        # Redis: the feature update and the linking touch go out together (one round trip of
        # latency); in memory they cost no I/O and run one after the other.
        self._concurrent = not isinstance(self.store, MemoryStore)
        self._memory = self.store if isinstance(self.store, MemoryStore) else None
        self._next_cluster_refresh: float | None = None
        self.background_failures = 0
        """Background flushes or re-clusterings that failed (each logged)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = False
        self.on_evicted = on_evicted
        """Told how many accounts the memory store evicted to stay under its cap."""

    async def start(self) -> None:
        """Open the store's connections."""
        await self.store.start()
        await self.scorer.store.start()

    async def close(self) -> None:
        """Finish background work, write queued links, close connections."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.linker.flush()
        except Exception:
            self._failed("flushing links on close")
        await self.scorer.close()
        await self.store.close()
        await self.scorer.store.close()

    async def observe(self, obs: Observation) -> Verdict:
        """Record one request and return the verdict on its sender (one store round trip)."""
        member: Membership
        # Linking and scoring read the same evidence values: worked out once (when their
        # settings agree on the sketch bands).
        values = evidence_values(obs, self._bands) if obs.account else []
        if self._concurrent:
            member, state = await asyncio.gather(
                self.linker.observe(obs, values), self.scorer.observe(obs)
            )
        else:
            member = await self.linker.observe(obs, values)
            state = await self.scorer.observe(obs)
        memory = self._memory
        if memory is not None and memory.evicted:
            await self._evicted()
        if self.linker.due(obs.ts):
            self._spawn(self._recluster(obs.ts))
        elif len(self.linker.pending) >= _FLUSH_AT:
            self._spawn(self._flush())
        judgement = self.scorer.judge(
            obs, state, member.cluster, values if self._same_values else None
        )
        return Verdict(
            account=obs.account,
            cluster=member.cluster,
            score=judgement.score,
            tier=judgement.tier,
            reasons=judgement.reasons,
            cluster_size=member.size,
        )

    async def forget(self, account: str) -> bool:
        """Drop what `account`'s requests left in linking and scoring state when the upstream
        refused its key on its first request: a key never proven creates nothing that lasts.
        An account served before keeps its state (a refusal it provokes must not launder its
        history). True when something was dropped."""
        state = (await self.scorer.store.states([account])).get(account)
        if state is not None and state.requests > 1:
            return False
        self.linker.forget(account)
        pending = self.linker.pending
        if any(account in (link.a, link.b) for link in pending):
            self.linker.pending = [link for link in pending if account not in (link.a, link.b)]
        found = await self.store.forget(account)
        return await self.scorer.store.forget(account) or found

    async def _evicted(self) -> None:
        store = self._memory
        assert store is not None
        evicted, store.evicted = store.evicted, []
        for account in evicted:
            await self.scorer.store.forget(account)
        if self.on_evicted is not None:
            self.on_evicted(len(evicted))

    @property
    def busy(self) -> bool:
        """Whether background work (writing links, re-clustering) is running."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for background work started so far (replay does, to be deterministic)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

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
        if result is not None and self._cluster_refresh_due(now):
            try:
                await self.scorer.refresh_clusters(
                    await self.store.clusters(), now, self.linker.degrees()
                )
            except Exception:
                self._failed("scoring clusters")
        if result is not None:
            logger.info(
                "re-clustered: %d links, %d clusters, %d accounts, largest %d",
                result.links,
                result.clusters,
                result.clustered_accounts,
                result.largest,
            )

    def _cluster_refresh_due(self, now: float) -> bool:
        # Pooling every cluster's features costs a pass over all clustered accounts: do it at
        # most every `cluster_refresh` seconds, not at every re-clustering.
        if self._next_cluster_refresh is not None and now < self._next_cluster_refresh:
            return False
        self._next_cluster_refresh = now + self.scorer.cluster_refresh
        return True

    def _failed(self, what: str) -> None:
        # Background work never reaches a client; it is counted and logged with its context.
        self.background_failures += 1
        logger.exception("guardgate background work failed while %s", what)
