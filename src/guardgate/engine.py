"""The detection engine: turns an observation into a verdict. One engine serves every door
(middleware, sidecar, replay); no door has detection logic of its own."""

from __future__ import annotations

from guardgate.model import Observation, Tier, Verdict
from guardgate.settings import GuardgateSettings


class Engine:
    """Scores the sender of each request.

    Until fingerprint linking and scoring are in place every account is its own cluster and
    `normal`, so the per-tier settings (reasoning policy, quotas) apply to all traffic alike.
    """

    def __init__(self, settings: GuardgateSettings) -> None:
        self.settings = settings

    async def start(self) -> None:
        """Open connections and start background work."""

    async def close(self) -> None:
        """Stop background work and close connections."""

    async def observe(self, obs: Observation) -> Verdict:
        """Record one request and return the verdict on its sender."""
        return Verdict(account=obs.account, cluster=obs.account, score=0.0, tier=Tier.NORMAL)

    async def record_usage(
        self, verdict: Verdict, prompt_tokens: int, completion_tokens: int, now: float
    ) -> None:
        """Record the tokens one answered request cost (after the response ended)."""
