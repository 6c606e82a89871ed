"""The `Guard` wires one deployment's parts together once: signals, engine, hardening.

The middleware holds one Guard; replay builds its own around the same engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from guardgate.admin.activity import AccountActivity, ActivityLog, ClusterActivity
from guardgate.detector import DetectorProcess
from guardgate.engine import Engine
from guardgate.hardening.sealing import Sealer
from guardgate.hardening.summariser import Summariser, summariser_from_settings
from guardgate.heap import HeapPolicy, keep_heap
from guardgate.model import (
    ApiKind,
    Decision,
    DetectionMode,
    Mode,
    Observation,
    ReasoningPolicy,
    Tier,
    Verdict,
)
from guardgate.overrides import OverrideBook, override_book_from_settings
from guardgate.quota import QuotaEnforcer, QuotaTicket
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.store import Link
from guardgate.tokens import TokenCounter
from guardgate.usage import Usage

logger = logging.getLogger("guardgate")

Clock = Callable[[], float]
TierListener = Callable[[Verdict, Tier], None]
_TIER_MEMORY = 200_000
_DECISION_MEMORY = 8192
_NORMAL = Tier.NORMAL


class Guard:
    """Everything one deployment decides with, built once from settings."""

    def __init__(self, settings: GuardgateSettings, *, clock: Clock = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.observer = Observer(settings)
        self.engine = Engine(settings)
        """The engine (inline detection; with `GUARDGATE_DETECTION=process` it is not started:
        the detector process runs its own)."""
        self.detector: DetectorProcess | None = (
            DetectorProcess(settings) if settings.detection is DetectionMode.PROCESS else None
        )
        self.sealer = Sealer(settings.secret_bytes)
        self.summariser: Summariser = summariser_from_settings(settings)
        self.shadow = settings.mode is Mode.SHADOW
        self.tokens = TokenCounter(settings.tokenizer_encoding)
        self.quotas = QuotaEnforcer(settings)
        self._quotas = self.quotas.enabled
        self.overrides: OverrideBook = override_book_from_settings(settings, clock=clock)
        self.activity = ActivityLog()
        """Recent verdicts handed out by this replica, for the admin API (inline; a detector
        process keeps its own: read both through `cluster_activity` and `account_activity`)."""
        self._started = False
        self._forgetting: set[asyncio.Task[None]] = set()
        self._last_tier: dict[str, Tier] = {}
        self._decisions: dict[Verdict, Decision] = {}
        self._last_decision = Decision(Verdict("", "", 0.0, Tier.NORMAL))
        self.tier_listener: TierListener | None = None
        """Called with (verdict, previous tier) when an account changes tier."""

    async def start(self) -> None:
        """Open connections; safe to call more than once."""
        if not self._started:
            self._started = True
            keep_heap(HeapPolicy(tenure=self.settings.heap_tenure))
            if self.detector is not None:
                await self.detector.start()
            else:
                await self.engine.start()
            await self.overrides.start()
            if self._quotas:
                # Loading the encoding takes a moment: do it now, off the event loop.
                await asyncio.to_thread(self.tokens.load)

    async def close(self) -> None:
        """Close connections and stop background work."""
        if self._started:
            self._started = False
            if self.detector is not None:
                await self.detector.close()
            else:
                await self.engine.close()
            await self.quotas.close()
            await self.overrides.close()

    def admit_now(
        self,
        api: ApiKind,
        headers: list[tuple[bytes, bytes]],
        peer: str,
        body: bytes,
    ) -> Decision | None:
        """The request path's fast lane, with a detector process and no quota: the decision on a
        request from its sender's latest verdict, without waiting on anything (the signals are
        queued for the detector). None when the request must take `admit_request`."""
        detector = self.detector
        if detector is None or self._quotas or not self._started:
            return None
        sender = self.observer.sender(headers, peer)
        verdict = detector.verdict(sender.account)
        decision = self.policy(self.overrides.apply(verdict))
        self._note_tier(decision.verdict)
        # The raw key stays in this process: the detector gets the account id instead.
        detector.submit(
            api,
            sender.credential_free,
            peer,
            body,
            self.clock(),
            sender.account,
            decision,
            verdict.tier,
        )
        return decision

    async def admit_request(
        self,
        api: ApiKind,
        headers: list[tuple[bytes, bytes]],
        peer: str,
        data: dict[str, Any],
        body: bytes,
    ) -> tuple[Decision, QuotaTicket | None, int]:
        """Observe one request (`data` is its parsed `body`) and decide on it, counted against
        its quotas: the decision, the ticket to `settle` once the answer has ended (when there is
        one) and the prompt tokens counted for a token quota (else 0)."""
        detector = self.detector
        if detector is None:
            obs, verdict = await self.observe(api, headers, peer, data, body)
            decision, ticket = await self.admit(verdict, obs)
            return decision, ticket, obs.prompt_tokens
        if not self._started:
            await self.start()
        now = self.clock()
        sender = self.observer.sender(headers, peer)
        verdict = detector.verdict(sender.account)
        prompt_tokens = self._prompt_tokens(api, data)
        decision, ticket = await self._admit(
            self.overrides.apply(verdict), api, prompt_tokens, hold_stream=True
        )
        self._note_tier(decision.verdict)
        detector.submit(
            api, sender.credential_free, peer, body, now, sender.account, decision, verdict.tier
        )
        return decision, ticket, prompt_tokens

    async def observe(
        self,
        api: ApiKind,
        headers: list[tuple[bytes, bytes]],
        peer: str,
        data: dict[str, Any],
        body: bytes,
    ) -> tuple[Observation, Verdict]:
        """Observe one request (`data` is its parsed `body`) and the verdict on its sender.

        Inline, the verdict includes this request. With a detector process, the request's
        signals are queued for it (undecided: `admit_request` queues them with the decision)
        and the verdict is the latest one it sent."""
        if not self._started:
            await self.start()
        now = self.clock()
        detector = self.detector
        if detector is None:
            obs = self.observer.observe(api, headers, peer, data, now)
            prompt_tokens = self._prompt_tokens(api, data)
            if prompt_tokens:
                obs = replace(obs, prompt_tokens=prompt_tokens)
            return obs, await self.engine.observe(obs)
        sender = self.observer.sender(headers, peer)
        detector.submit(api, sender.credential_free, peer, body, now, sender.account)
        model = data.get("model")
        obs = Observation(
            ts=now,
            api=api,
            account=sender.account,
            client_ip=sender.client_ip,
            ip_prefix=sender.ip_prefix,
            model=model if isinstance(model, str) else "",
            prompt_tokens=self._prompt_tokens(api, data),
        )
        return obs, detector.verdict(sender.account)

    def _prompt_tokens(self, api: ApiKind, data: dict[str, Any]) -> int:
        # Only a token quota needs the prompt counted before the answer says it.
        return self.tokens.prompt_tokens(api, data) if self._quotas else 0

    async def cluster_activity(
        self, clusters: Collection[str] | None = None
    ) -> dict[str, ClusterActivity]:
        """This replica's record of the given clusters (all, without member lists, when none
        are given), for the admin API."""
        if self.detector is not None:
            found: dict[str, ClusterActivity] = await self.detector.call(
                "cluster_activity", clusters
            )
            return found
        return self.activity.cluster_entries(clusters)

    async def account_activity(self, accounts: Collection[str]) -> dict[str, AccountActivity]:
        """This replica's record of the given accounts, for the admin API."""
        if self.detector is not None:
            found: dict[str, AccountActivity] = await self.detector.call(
                "account_activity", list(accounts)
            )
            return found
        return self.activity.account_entries(accounts)

    async def clusters(self) -> dict[str, str]:
        """Every clustered account's cluster id (for the admin API)."""
        if self.detector is not None:
            clusters: dict[str, str] = await self.detector.call("clusters")
            return clusters
        return await self.engine.store.clusters()

    async def links(self, since: float) -> list[Link]:
        """Links between accounts still live after `since` (for the admin API)."""
        if self.detector is not None:
            links: list[Link] = await self.detector.call("links", since)
            return links
        return await self.engine.store.links(since)

    async def recluster(self) -> None:
        """Write queued links and rebuild the clusters now."""
        if self.detector is not None:
            await self.detector.call("recluster", self.clock())
        else:
            await self.engine.recluster(self.clock())

    async def verdict(self, obs: Observation) -> Verdict:
        """The engine's verdict on the sender of `obs` (operator overrides apply in `admit`)."""
        if not self._started:
            await self.start()
        return await self.engine.observe(obs)

    async def decide(self, verdict: Verdict, obs: Observation) -> Decision:
        """What to do with the request `obs` whose sender got `verdict` (replay's entry point:
        no concurrent-stream lease is taken, as replayed requests have no response to wait for)."""
        decision, _ticket = await self.admit(verdict, obs, hold_stream=False)
        return decision

    async def admit(
        self, verdict: Verdict, obs: Observation, *, hold_stream: bool = True
    ) -> tuple[Decision, QuotaTicket | None]:
        """The decision, with the request counted against its quotas (before it is forwarded).

        The ticket, when there is one, must be passed to `settle` once the answer has ended.
        An operator override replaces the verdict's tier first.
        """
        decision, ticket = await self._admit(
            self.overrides.apply(verdict), obs.api, obs.prompt_tokens, hold_stream=hold_stream
        )
        if self.detector is None:
            self.activity.record(obs, decision, engine_tier=verdict.tier)
        self._note_tier(decision.verdict)
        return decision, ticket

    def _note_tier(self, verdict: Verdict) -> None:
        """Tell the tier listener when an account's tier in force differs from the last one this
        replica saw (a first sighting counts only when it is not `normal`)."""
        account = verdict.account
        if not account:
            return
        old = self._last_tier.get(account, _NORMAL)
        if old is verdict.tier:
            return
        if len(self._last_tier) >= _TIER_MEMORY:
            self._last_tier.clear()  # bounded; forgetting only repeats a notice
        self._last_tier[account] = verdict.tier
        if self.tier_listener is not None:
            self.tier_listener(verdict, old)

    async def _admit(
        self, verdict: Verdict, api: ApiKind, prompt_tokens: int, *, hold_stream: bool
    ) -> tuple[Decision, QuotaTicket | None]:
        decision = self.policy(verdict)
        if decision.rejected or not self._quotas:
            return decision, None
        outcome = await self.quotas.check(
            verdict,
            api,
            prompt_tokens,
            hold_stream=hold_stream,
            multipliers=self.overrides.quota_multipliers(verdict.account, verdict.cluster),
        )
        if outcome.allowed:
            if outcome.failed_open:
                decision = replace(decision, actions=(*decision.actions, "quota_fail_open"))
            return decision, outcome.ticket
        action = "rate_limited" if outcome.status == 429 else "quota_unavailable"
        return replace(
            decision,
            reject_status=outcome.status,
            reject_message=outcome.message,
            retry_after=outcome.retry_after,
            rate_limit_headers=outcome.headers,
            actions=(action, *decision.actions),
            limit=outcome.limit,
        ), None

    def forget(self, account: str) -> None:
        """The upstream refused `account`'s key (401/403): drop the state its requests made, in
        the background, so that unproven keys cannot fill the state."""
        if account:
            task = asyncio.ensure_future(self._forget(account))
            self._forgetting.add(task)
            task.add_done_callback(self._forgetting.discard)

    async def _forget(self, account: str) -> None:
        try:
            if self.detector is not None:
                await self.detector.call("forget", account)
            else:
                await self.engine.forget(account)
        except Exception:
            logger.warning("guardgate could not forget a refused account", exc_info=True)

    async def settle(self, ticket: QuotaTicket, usage: Usage) -> None:
        """After an answer ended (completely or not): charge its tokens to the quotas and
        release its stream lease. Never raises."""
        await self.quotas.settle(ticket, usage.completion_tokens, usage.prompt_tokens)

    def policy(self, verdict: Verdict) -> Decision:
        """Map a verdict to what to do, quotas aside; enforcement only maps, it does not detect."""
        # An account's verdict repeats from request to request (with a detector process it is
        # the very same object, found by identity before hashing it): its decision is made once.
        last = self._last_decision
        if last.verdict is verdict:
            return last
        decision = self._decisions.get(verdict)
        if decision is None:
            if len(self._decisions) >= _DECISION_MEMORY:
                self._decisions.clear()
            decision = self._decisions[verdict] = self._policy(verdict)
        self._last_decision = decision
        return decision

    def _policy(self, verdict: Verdict) -> Decision:
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
