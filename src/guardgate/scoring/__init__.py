"""Extraction scoring: per-account features, an interpretable score, tiers with hysteresis."""

from guardgate.scoring.features import INDICATOR_TEXT, INDICATORS, AccountState
from guardgate.scoring.model import DEFAULT_WEIGHTS, Score, ScoringModel
from guardgate.scoring.scorer import ClusterScore, Judgement, Scorer
from guardgate.scoring.state import FeatureLimits, FeatureStore, MemoryFeatureStore
from guardgate.scoring.tiers import TierThresholds

__all__ = [
    "DEFAULT_WEIGHTS",
    "INDICATORS",
    "INDICATOR_TEXT",
    "AccountState",
    "ClusterScore",
    "FeatureLimits",
    "FeatureStore",
    "Judgement",
    "MemoryFeatureStore",
    "Score",
    "Scorer",
    "ScoringModel",
    "TierThresholds",
]
