"""Builds the `Scorer` of a deployment from its settings (memory or Redis feature state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from guardgate.prefixed import prefixed
from guardgate.scoring.model import ScoringModel
from guardgate.scoring.scorer import Scorer
from guardgate.scoring.state import FeatureLimits, FeatureStore, MemoryFeatureStore
from guardgate.scoring.tiers import TierThresholds


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """Thresholds, weights and decay of scoring.

    Each field is read from a settings field `scoring_<field>` (environment variable
    `GUARDGATE_SCORING_<FIELD>`) where settings define it; otherwise the default applies.
    """

    suspect_enter: float = 0.85
    """Score from which an account becomes `suspect`."""
    suspect_exit: float = 0.6
    """Score below which a `suspect` account returns to `normal` (after `tier_hold`)."""
    extractor_enter: float = 0.92
    """Score from which an account becomes `extractor`."""
    extractor_exit: float = 0.8
    """Score below which an `extractor` account returns to `suspect` (after `tier_hold`)."""
    tier_hold: float = 3600.0
    """Seconds a tier is kept at least once entered."""
    cluster_lift: float = 0.5
    """Most a cluster's score adds to a member's own score."""
    cluster_refresh: float = 900.0
    """Seconds (request time) between recomputations of the cluster scores."""
    half_life: float = 86400.0
    """Seconds after which a request counts half in an account's feature rates."""
    weights: str = ""
    """Weight overrides, `name=value,name=value` (names as in `DEFAULT_WEIGHTS`)."""

    @classmethod
    def from_settings(cls, settings: Any) -> ScoringConfig:
        """Defaults, overridden by `settings.scoring_<field>` where such a field exists."""
        return cls(**prefixed(cls, settings, "scoring"))

    def model(self) -> ScoringModel:
        """The scoring model with the configured weights."""
        overrides: dict[str, float] = {}
        for part in self.weights.split(","):
            if part.strip():
                name, _, value = part.partition("=")
                try:
                    overrides[name.strip()] = float(value)
                except ValueError:
                    raise ValueError(
                        f"scoring weight {part.strip()!r} is not name=number"
                    ) from None
        return ScoringModel.with_overrides(overrides)

    def thresholds(self) -> TierThresholds:
        """The tier thresholds."""
        return TierThresholds(
            suspect_enter=self.suspect_enter,
            suspect_exit=self.suspect_exit,
            extractor_enter=self.extractor_enter,
            extractor_exit=self.extractor_exit,
            hold=self.tier_hold,
        )


def scorer_from_settings(
    settings: Any,
    config: ScoringConfig | None = None,
    *,
    client: Any = None,
    on_prompts_evicted: Callable[[int], None] | None = None,
) -> Scorer:
    """The scorer for these settings; feature state in Redis on `client` (the deployment's
    client, whose connection pool every part shares) when `redis_url` is set."""
    cfg = config if config is not None else ScoringConfig.from_settings(settings)
    limits = FeatureLimits(half_life=cfg.half_life)
    max_prompts = getattr(settings, "max_prompts", None)
    if max_prompts is not None:
        limits = replace(limits, max_prompts=max_prompts)
    store: FeatureStore
    if getattr(settings, "redis_url", None):
        from guardgate.scoring.redis_state import RedisFeatureStore

        if client is None:
            raise ValueError("Redis feature state needs the deployment's Redis client")
        store = RedisFeatureStore(client, limits, on_prompts_evicted=on_prompts_evicted)
    else:
        store = MemoryFeatureStore(limits, on_prompts_evicted=on_prompts_evicted)
    return Scorer(
        store,
        cfg.model(),
        cfg.thresholds(),
        cluster_lift=cfg.cluster_lift,
        cluster_refresh=cfg.cluster_refresh,
    )
