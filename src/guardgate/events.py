"""`Events`: where the gate reports what it decided, to the audit log and the metrics.

The audit log (`guardgate.audit`) gets one JSON line per decision that changes something and one
per account changing tier; nothing here holds a raw key. The sink is built once per deployment
and handed to the parts that report (the gate, the detector process): nothing calls back up into
a door.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from guardgate.metrics import Metrics
from guardgate.model import Decision, ReasoningPolicy, Tier, Verdict

audit = logging.getLogger("guardgate.audit")

__all__ = ["Events"]


class Events:
    """The audit log and the metrics of one deployment."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def decided(self, decision: Decision, *, shadow: bool) -> None:
        """Log a decision that acts (or, in shadow mode, would act) on its request; in shadow
        mode, count what enforcing it would have done."""
        verdict = decision.verdict
        if shadow:
            would = _would(decision)
            if would:
                self.metrics.shadow_would(would, verdict.tier._value_)
        if not audit.isEnabledFor(logging.INFO):
            return  # no line to build (a replay logs warnings only)
        line: dict[str, Any] = {
            "event": "decision",
            "shadow": shadow,
            "account": verdict.account,
            "cluster": verdict.cluster,
            "tier": verdict.tier.value,
            "score": round(verdict.score, 4),
            "actions": list(decision.actions),
        }
        if decision.limit:
            # A quota's 429: the limit that fired is the reason, not the detection's.
            line["limit"] = decision.limit
            line["reasons"] = [f"quota: {decision.limit.replace('_', ' ')} limit reached"]
        else:
            line["reasons"] = list(verdict.reasons)
        audit.info(json.dumps(line, separators=(",", ":")))

    def tier_changed(self, verdict: Verdict, old: Tier) -> None:
        """An account's tier in force moved from `old` to `verdict.tier` (as this replica saw
        it): counted and logged."""
        self.metrics.tier_change(old.value, verdict.tier.value)
        if not audit.isEnabledFor(logging.INFO):
            return
        audit.info(
            json.dumps(
                {
                    "event": "tier_change",
                    "account": verdict.account,
                    "cluster": verdict.cluster,
                    "from": old.value,
                    "to": verdict.tier.value,
                    "score": round(verdict.score, 4),
                    "reasons": list(verdict.reasons),
                },
                separators=(",", ":"),
            )
        )

    def completion_tokens(self, count: int) -> None:
        """Add the completion tokens a detector process read off answers."""
        self.metrics.tokens("completion", count)

    def forgotten(self, reason: str, count: int = 1) -> None:
        """Count accounts whose state was dropped: `refused` (the upstream refused the key) or
        `evicted` (the memory store's cap)."""
        self.metrics.forgotten(reason, count)

    def evicted(self, count: int) -> None:
        """The engine's memory store evicted `count` accounts to stay under its cap."""
        self.metrics.forgotten("evicted", count)

    def prompts_evicted(self, count: int) -> None:
        """The feature store evicted `count` prompts to stay under GUARDGATE_MAX_PROMPTS."""
        self.metrics.prompts_evicted(count)


def _would(decision: Decision) -> str:
    """What enforcing `decision` would have done (shadow mode's metric), or "" for nothing."""
    status = decision.reject_status
    if status is not None:
        return {429: "limited", 403: "blocked"}.get(status, "rejected")
    policy = decision.reasoning_policy
    if policy is ReasoningPolicy.STRIP:
        return "stripped"
    if policy is ReasoningPolicy.SUMMARISE:
        return "summarised"
    return ""
