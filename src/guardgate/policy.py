"""`Policy`: what to do with a request, from the verdict on its sender and the settings alone.

Enforcement only maps; it does not detect. The mapping is pure and depends on the verdict's tier
alone. With a detector process an account's repeated verdict gets its decision from a small cache
(the verdict is the very same object from request to request, found by identity before hashing
it); inline, where each verdict is new, the decision is built from its tier's mapping.
"""

from __future__ import annotations

from guardgate.model import Decision, DetectionMode, ReasoningPolicy, Tier, Verdict
from guardgate.settings import GuardgateSettings

__all__ = ["BLOCKED_MESSAGE", "Policy"]

BLOCKED_MESSAGE = "This API key is not permitted to use this endpoint."
_DECISION_MEMORY = 8192


class Policy:
    """Maps a verdict to a `Decision` (quotas aside: the gate applies them after)."""

    def __init__(self, settings: GuardgateSettings) -> None:
        self.settings = settings
        self._decisions: dict[Verdict, Decision] = {}
        self._by_tier: dict[Tier, Decision] = {}
        """The mapping of each tier (a decision depends on nothing else of its verdict)."""
        # Inline, every request's verdict is a new one (its score moves): a cache of decisions
        # by verdict would only hash each one and keep it. A detector process's verdicts repeat
        # (the same object per account until it changes): one decision each.
        self._cached = settings.detection is DetectionMode.PROCESS
        self._last = Decision(Verdict("", "", 0.0, Tier.NORMAL))
        self._last_verdict = self._last.verdict
        """The verdict `_last` was asked for: not always `_last.verdict`, which may be an equal
        verdict cached earlier (the detector sends an unchanged verdict again every few seconds,
        a new object): compared with that one, the account's every request would hash its
        verdict again."""

    def decide(self, verdict: Verdict) -> Decision:
        """The decision on a request whose sender got `verdict`."""
        if verdict is self._last_verdict:
            return self._last
        decision = self._decisions.get(verdict) if self._cached else None
        if decision is None:
            decision = self._from_tier(verdict)
            if self._cached:
                if len(self._decisions) >= _DECISION_MEMORY:
                    self._decisions.clear()
                self._decisions[verdict] = decision
        self._last, self._last_verdict = decision, verdict
        return decision

    def _from_tier(self, verdict: Verdict) -> Decision:
        mapped = self._by_tier.get(verdict.tier)
        if mapped is None:
            mapped = self._by_tier[verdict.tier] = self._map(verdict)
        return Decision(
            verdict,
            mapped.reasoning_policy,
            mapped.reject_status,
            mapped.reject_message,
            drop_logprobs=mapped.drop_logprobs,
            actions=mapped.actions,
        )

    def _map(self, verdict: Verdict) -> Decision:
        if verdict.tier is Tier.BLOCKED:
            return Decision(
                verdict=verdict,
                reject_status=403,
                reject_message=BLOCKED_MESSAGE,
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
