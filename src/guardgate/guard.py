"""The `Guard` wires one deployment's parts together once: signals, engine, hardening.

The middleware holds one Guard; replay builds its own around the same engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from guardgate.engine import Engine
from guardgate.hardening.sealing import Sealer
from guardgate.hardening.summariser import Summariser, summariser_from_settings
from guardgate.model import Decision, Mode, Observation, ReasoningPolicy, Tier, Verdict
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer

logger = logging.getLogger("guardgate")

Clock = Callable[[], float]


class Guard:
    """Everything one deployment decides with, built once from settings."""

    def __init__(self, settings: GuardgateSettings, *, clock: Clock = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.observer = Observer(settings)
        self.engine = Engine(settings)
        self.sealer = Sealer(settings.secret_bytes)
        self.summariser: Summariser = summariser_from_settings(settings)
        self.shadow = settings.mode is Mode.SHADOW
        self._started = False

    async def start(self) -> None:
        """Open connections; safe to call more than once."""
        if not self._started:
            self._started = True
            await self.engine.start()

    async def close(self) -> None:
        """Close connections and stop background work."""
        if self._started:
            self._started = False
            await self.engine.close()

    async def verdict(self, obs: Observation) -> Verdict:
        """The engine's verdict on the sender of `obs`."""
        if not self._started:
            await self.start()
        return await self.engine.observe(obs)

    def decide(self, verdict: Verdict) -> Decision:
        """Map a verdict to what to do; enforcement only maps, it does not detect."""
        if verdict.tier is Tier.BLOCKED:
            return Decision(
                verdict=verdict,
                reject_status=403,
                reject_message="This API key is not permitted to use this endpoint.",
                actions=("blocked",),
            )
        policy = self.settings.reasoning_policy_for(verdict.tier)
        actions: tuple[str, ...] = ()
        if policy is ReasoningPolicy.STRIP:
            actions = ("strip_reasoning",)
        elif policy is ReasoningPolicy.SUMMARISE:
            actions = ("summarise_reasoning",)
        # Logprobs reveal the distribution a student model is trained on: withhold them wherever
        # reasoning is stripped, and from every suspect or extractor.
        hardened = policy is ReasoningPolicy.STRIP or verdict.tier in (Tier.SUSPECT, Tier.EXTRACTOR)
        return Decision(
            verdict=verdict,
            reasoning_policy=policy,
            drop_logprobs=hardened,
            actions=actions + (("drop_logprobs",) if hardened else ()),
        )
