"""Tiers with hysteresis: no flapping around a threshold."""

from __future__ import annotations

import pytest

from guardgate.model import Tier
from guardgate.scoring import TierThresholds


def _walk(th: TierThresholds, scores: list[float], step: float = 600.0) -> list[Tier]:
    tier, entered, out = Tier.NORMAL, 0.0, []
    for i, score in enumerate(scores):
        now = i * step
        new = th.next_tier(tier, entered, score, now)
        if new is not tier:
            tier, entered = new, now
        out.append(tier)
    return out


def test_a_score_wobbling_around_the_threshold_does_not_flap() -> None:
    th = TierThresholds(suspect_enter=0.8, suspect_exit=0.6, hold=0)
    tiers = _walk(th, [0.79, 0.81, 0.78, 0.82, 0.7, 0.65, 0.79, 0.55, 0.79])
    assert tiers == [Tier.NORMAL] + [Tier.SUSPECT] * 6 + [Tier.NORMAL] * 2


def test_a_tier_is_held_for_the_hold_time_then_left() -> None:
    th = TierThresholds(hold=3600)
    tiers = _walk(th, [0.95, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], step=600)
    assert tiers[:6] == [Tier.EXTRACTOR] * 6
    assert tiers[-1] is Tier.NORMAL


def test_extractor_steps_down_to_suspect_between_the_thresholds() -> None:
    th = TierThresholds(hold=0)
    assert _walk(th, [0.95, 0.85, 0.7, 0.5]) == [
        Tier.EXTRACTOR,
        Tier.EXTRACTOR,
        Tier.SUSPECT,
        Tier.NORMAL,
    ]


def test_inconsistent_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="suspect_exit <= suspect_enter"):
        TierThresholds(suspect_enter=0.5, suspect_exit=0.7)
