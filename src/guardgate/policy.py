"""`Policy`: what to do with a request, from the verdict on its sender and the settings alone.

Enforcement only maps; it does not detect. The mapping is pure, so an account's repeated verdict
gets its decision from a small cache (with a detector process the verdict is the very same object
from request to request, found by identity before hashing it).
"""

from __future__ import annotations

from guardgate.model import Decision, ReasoningPolicy, Tier, Verdict
from guardgate.settings import GuardgateSettings

__all__ = ["BLOCKED_MESSAGE", "Policy"]

BLOCKED_MESSAGE = "This API key is not permitted to use this endpoint."
_DECISION_MEMORY = 8192


class Policy:
    """Maps a verdict to a `Decision` (quotas aside: the gate applies them after)."""

    def __init__(self, settings: GuardgateSettings) -> None:
        self.settings = settings
        self._decisions: dict[Verdict, Decision] = {}
        self._last = Decision(Verdict("", "", 0.0, Tier.NORMAL))

    def decide(self, verdict: Verdict) -> Decision:
        """The decision on a request whose sender got `verdict`."""
        last = self._last
        if last.verdict is verdict:
            return last
        decision = self._decisions.get(verdict)
        if decision is None:
            if len(self._decisions) >= _DECISION_MEMORY:
                self._decisions.clear()
            decision = self._decisions[verdict] = self._map(verdict)
        self._last = decision
        return decision

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
