"""`Gate`: the one decision path every door takes (the middleware, the sidecar, replay).

    admit(request) -> detection -> overrides -> policy -> quotas -> events -> Admission
    settle(admission, usage)  (once the answer has ended: tokens charged, stream lease released)

A request's decision depends only on its content, its time (the gate's clock) and the state, so
replay decides what live traffic decides, quotas included.

When judging fails (a Redis outage past `GUARDGATE_REDIS_TIMEOUT`, a bug), `GUARDGATE_FAIL_MODE`
decides: `closed` answers 503; `open` serves with what this replica last knew, never with less:
the sender's last verdict (bounded memory in `Detection`), the overrides last loaded and the same
policy. A blocked account stays blocked and a flagged one keeps its reasoning stripped; only the
quota counters, which live in the same storage, are not checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from guardgate.detection import Detection, GateRequest, Judgement
from guardgate.events import Events
from guardgate.faults import FaultCounter
from guardgate.model import ApiKind, Decision, FailMode, Tier, Verdict
from guardgate.overrides import OverrideBook
from guardgate.policy import Policy
from guardgate.quota import QuotaEnforcer, QuotaTicket
from guardgate.records import record
from guardgate.signals.observe import Sender
from guardgate.tokens import TokenCounter
from guardgate.usage import Usage

logger = logging.getLogger("guardgate")

__all__ = ["UNAVAILABLE_MESSAGE", "Admission", "Gate"]

Clock = Callable[[], float]
_TIER_MEMORY = 200_000
"""Accounts whose tier in force is remembered to notice changes (bounded: forgetting only
repeats a notice)."""
_NORMAL = Tier.NORMAL
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; retry shortly."


@record
class Admission:
    """What the gate decided on one request, and what is left to settle."""

    decision: Decision
    """The decision to enforce (in shadow mode: one that changes nothing)."""
    ticket: QuotaTicket | None = None
    """Quota work left once the answer has ended (charge its tokens, release its lease)."""
    prompt_tokens: int = 0
    """The prompt tokens counted before forwarding (0 without a token quota)."""
    shadow: bool = False
    """Whether the decision was computed and logged but not enforced."""


class Gate:
    """The request path's decisions: built once per deployment (see `Deployment`)."""

    def __init__(
        self,
        *,
        detection: Detection,
        overrides: OverrideBook,
        policy: Policy,
        quotas: QuotaEnforcer,
        tokens: TokenCounter,
        events: Events,
        faults: FaultCounter,
        clock: Clock,
        fail_mode: FailMode,
        shadow: bool = False,
    ) -> None:
        self.detection = detection
        self.overrides = overrides
        self.policy = policy
        self.quotas = quotas
        self.tokens = tokens
        self.events = events
        self.faults = faults
        self.clock = clock
        self.fail_mode = fail_mode
        self.shadow = shadow
        self._quotas = quotas.enabled
        self._last = Admission(Decision(Verdict("", "", 0.0, Tier.NORMAL)))
        self._forgetting: set[asyncio.Task[None]] = set()
        self._tiers: dict[str, Tier] = {}
        """The tier in force this replica last saw on each account (to report changes)."""

    def admit_now(self, api: ApiKind, sender: Sender, peer: str, body: bytes) -> Admission | None:
        """The fast lane: the admission when it needs no waiting (a detector process and no
        quota), else None (take `admit`). The same steps as `admit`, so the same decision; when
        judging raises, None too: `admit` judges again and, failing, decides by the fail mode.

        It takes the parts of the request it reads (`sender` worked out by the door), not a
        `GateRequest`: building one costs ~2.3 k instructions, and this runs on every request of
        a detector-process server without quotas (bench_instructions)."""
        if self._quotas:
            return None
        now = self.clock()
        try:
            judgement = self.detection.judge_now(sender, now)
        except Exception:
            return None
        if judgement is None:
            return None
        decision = self.policy.decide(self.overrides.apply(judgement.verdict))
        # `_record`, inlined: a call costs ~0.5 k instructions here (bench_instructions).
        try:
            self.detection.record(api, peer, body, now, judgement, decision)
        except Exception:
            self.faults.record("engine", logger)  # the decision stands; only its record is lost
        verdict = decision.verdict
        if self._tiers.get(verdict.account, _NORMAL) is not verdict.tier:
            self._tier_changed(verdict)
        last = self._last
        if last.decision is decision and not decision.actions:
            return last  # an account's repeated verdict: nothing new to build
        self._last = admission = self._admitted(decision, None, 0)
        return admission

    async def admit(self, request: GateRequest, *, hold_stream: bool = True) -> Admission:
        """Judge the request, apply overrides, policy and quotas, and report the decision.

        `hold_stream` takes a concurrent-stream lease when a stream quota applies (replay
        passes False: its requests have no answer to wait for). Never raises."""
        now = self.clock()
        prompt_tokens = 0
        try:
            if self._quotas:
                prompt_tokens = self.tokens.prompt_tokens(request.api, request.data)
            judgement = await self.detection.judge(request, now, prompt_tokens)
        except Exception:
            return self._failed(request, prompt_tokens)
        decision = self.policy.decide(self.overrides.apply(judgement.verdict))
        ticket: QuotaTicket | None = None
        if self._quotas and not decision.rejected:
            decision, ticket = await self._quota(decision, request.api, prompt_tokens, hold_stream)
        self._record(request, now, judgement, decision)
        return self._admitted(decision, ticket, prompt_tokens)

    async def settle(self, admission: Admission, usage: Usage) -> None:
        """After the answer ended (completely or not): charge its tokens to the quotas and
        release its stream lease. Never raises."""
        ticket = admission.ticket
        if ticket is not None:
            await self.quotas.settle(ticket, usage.completion_tokens, usage.prompt_tokens)

    def forget(self, account: str) -> None:
        """The upstream refused `account`'s key (401/403): drop the state its requests made, in
        the background, so that unproven keys cannot fill the state (never waits)."""
        if account:
            self.events.forgotten("refused")
            task = asyncio.ensure_future(self._forget(account))
            self._forgetting.add(task)
            task.add_done_callback(self._forgetting.discard)

    async def _forget(self, account: str) -> None:
        try:
            await self.detection.forget(account)
        except Exception:
            logger.warning("guardgate could not forget a refused account", exc_info=True)

    def _record(
        self, request: GateRequest, now: float, judgement: Judgement, decision: Decision
    ) -> None:
        try:
            self.detection.record(request.api, request.peer, request.body, now, judgement, decision)
        except Exception:
            self.faults.record("engine", logger)  # the decision stands; only its record is lost
        verdict = decision.verdict
        if self._tiers.get(verdict.account, _NORMAL) is not verdict.tier:
            self._tier_changed(verdict)

    def _tier_changed(self, verdict: Verdict) -> None:
        """Report an account whose tier in force differs from the last one this replica saw (a
        first sighting only when it is not `normal`)."""
        account = verdict.account
        if not account:
            return
        tiers = self._tiers
        old = tiers.get(account, _NORMAL)
        if len(tiers) >= _TIER_MEMORY:
            tiers.clear()
        tiers[account] = verdict.tier
        self.events.tier_changed(verdict, old)

    def _failed(self, request: GateRequest, prompt_tokens: int) -> Admission:
        """Judging raised: 503 when failing closed; failing open, the decision on the sender's
        last known verdict with the overrides last loaded (never less than before the fault)."""
        self.faults.record("engine", logger)
        if self.fail_mode is FailMode.CLOSED:
            return Admission(
                Decision(
                    Verdict("", "", 0.0, Tier.NORMAL),
                    reject_status=503,
                    reject_message=UNAVAILABLE_MESSAGE,
                    actions=("unavailable",),
                )
            )
        try:
            verdict = self.detection.fallback(request)
        except Exception:
            self.faults.record("engine", logger)
            verdict = Verdict("", "", 0.0, Tier.NORMAL)
        decision = self.policy.decide(self.overrides.apply(verdict))
        decision = replace(decision, actions=(*decision.actions, "fail_open"))
        if self._tiers.get(verdict.account, _NORMAL) is not decision.verdict.tier:
            self._tier_changed(decision.verdict)
        return self._admitted(decision, None, prompt_tokens)

    def _admitted(
        self, decision: Decision, ticket: QuotaTicket | None, prompt_tokens: int
    ) -> Admission:
        if self.shadow:
            if decision.actions:
                self.events.decided(decision, shadow=True)
            # Shadow changes nothing; the quota ticket is still settled (its lease released).
            return Admission(Decision(verdict=decision.verdict), ticket, prompt_tokens, True)
        if decision.actions:
            self.events.decided(decision, shadow=False)
        return Admission(decision, ticket, prompt_tokens)

    async def _quota(
        self, decision: Decision, api: ApiKind, prompt_tokens: int, hold_stream: bool
    ) -> tuple[Decision, QuotaTicket | None]:
        verdict = decision.verdict
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
