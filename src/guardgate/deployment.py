"""`Deployment`: the one place where a deployment's parts are built and wired, from settings.

    metrics, faults, events (audit log + metrics)
    one Redis connection pool (when GUARDGATE_REDIS_URL is set), shared by every store:
        linking store, feature store, overrides, quota counters
    detection (inline, or a detector process), policy, quotas, the gate
    the hardening parts a door applies (sealer, summariser)

Each part gets what it needs through its constructor; nothing is patched afterwards, and no part
calls back into a door. A door (the middleware, the sidecar, replay) holds one `Deployment` and
takes every request through `deployment.gate`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from guardgate.detection import Detection, InlineDetection
from guardgate.detector import DetectorProcess, ProcessDetection
from guardgate.engine import Engine
from guardgate.events import Events
from guardgate.faults import FaultCounter
from guardgate.gate import Gate
from guardgate.hardening.sealing import Sealer
from guardgate.hardening.summariser import Summariser, summariser_from_settings
from guardgate.heap import HeapPolicy, keep_heap
from guardgate.linking import LinkingConfig
from guardgate.metrics import Metrics
from guardgate.model import DetectionMode, Mode
from guardgate.overrides import (
    MemoryOverrideBackend,
    OverrideBackend,
    OverrideBook,
    RedisOverrideBackend,
)
from guardgate.policy import Policy
from guardgate.quota import QuotaEnforcer, build_backend
from guardgate.scoring.factory import scorer_from_settings
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.store import MemoryStore, RedisStore, Store
from guardgate.store.redis import close as close_redis
from guardgate.store.redis import connect, share
from guardgate.tokens import TokenCounter

__all__ = ["Clock", "Deployment"]

Clock = Callable[[], float]


class Deployment:
    """Every part of one deployment, built once; `start` and `close` open and close them."""

    def __init__(
        self,
        *,
        settings: GuardgateSettings,
        clock: Clock,
        metrics: Metrics,
        faults: FaultCounter,
        events: Events,
        observer: Observer,
        tokens: TokenCounter,
        overrides: OverrideBook,
        quotas: QuotaEnforcer,
        detection: Detection,
        gate: Gate,
        sealer: Sealer,
        summariser: Summariser,
        redis: Any = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.faults = faults
        self.events = events
        self.observer = observer
        self.tokens = tokens
        self.overrides = overrides
        self.quotas = quotas
        self.detection = detection
        self.gate = gate
        self.sealer = sealer
        self.summariser = summariser
        self.redis = redis
        """The client whose connection pool every Redis-backed part shares (None in memory)."""
        self.started = False

    @classmethod
    def from_settings(
        cls, settings: GuardgateSettings, clock: Clock | None = None, *, admin: bool = True
    ) -> Deployment:
        """Build every part for `settings`; `clock` (unix seconds) defaults to `time.time` and
        is the request time everywhere a decision reads one (replay and tests set it).

        `admin=False`: inline detection keeps no activity record for the admin API (a replay
        serves none)."""
        now: Clock = clock if clock is not None else time.time
        metrics = Metrics()
        faults = FaultCounter(metrics)
        events = Events(metrics)
        redis: Any = None
        if settings.redis_url:
            redis = connect(settings.redis_url, settings.redis_timeout)
        observer = Observer(settings)
        tokens = TokenCounter(settings.tokenizer_encoding)
        backend: OverrideBackend
        if redis is not None:
            backend = RedisOverrideBackend(share(redis))
        else:
            backend = MemoryOverrideBackend()
        overrides = OverrideBook(backend, clock=now, poll_interval=settings.override_poll_interval)
        pool = getattr(redis, "connection_pool", None)
        quotas = QuotaEnforcer(
            settings,
            build_backend(settings, pool=pool, clock=clock),
            faults=faults,
            clock=now,
        )
        config = LinkingConfig.from_settings(settings)
        detection: Detection
        if settings.detection is DetectionMode.PROCESS:
            process = DetectorProcess(
                settings,
                faults=faults,
                on_tokens=events.completion_tokens,
                on_evicted=events.evicted,
                on_prompts_evicted=events.prompts_evicted,
            )
            detection = ProcessDetection(observer, process, config.link_ttl)
        else:
            limits = replace(config.limits, max_accounts=settings.max_accounts)
            store: Store = (
                RedisStore(share(redis), limits) if redis is not None else MemoryStore(limits)
            )
            scorer = scorer_from_settings(
                settings,
                client=share(redis) if redis is not None else None,
                on_prompts_evicted=events.prompts_evicted,
            )
            engine = Engine(
                settings, store=store, config=config, scorer=scorer, on_evicted=events.evicted
            )
            detection = InlineDetection(observer, engine, record_activity=admin)
        gate = Gate(
            detection=detection,
            overrides=overrides,
            policy=Policy(settings),
            quotas=quotas,
            tokens=tokens,
            events=events,
            faults=faults,
            clock=now,
            fail_mode=settings.fail_mode,
            shadow=settings.mode is Mode.SHADOW,
        )
        return cls(
            settings=settings,
            clock=now,
            metrics=metrics,
            faults=faults,
            events=events,
            observer=observer,
            tokens=tokens,
            overrides=overrides,
            quotas=quotas,
            detection=detection,
            gate=gate,
            sealer=Sealer(settings.secret_bytes),
            summariser=summariser_from_settings(settings),
            redis=redis,
        )

    async def start(self) -> None:
        """Open connections and start background work; safe to call more than once."""
        if self.started:
            return
        self.started = True
        keep_heap(HeapPolicy(tenure=self.settings.heap_tenure))
        await self.detection.start()
        await self.overrides.start()
        if self.quotas.enabled:
            # Loading the encoding takes a moment: do it now, off the event loop.
            await asyncio.to_thread(self.tokens.load)

    async def close(self) -> None:
        """Stop background work, write what is queued and close every connection."""
        if not self.started:
            return
        self.started = False
        await self.detection.close()
        await self.quotas.close()
        await self.overrides.close()
        if self.redis is not None:
            await close_redis(self.redis)
