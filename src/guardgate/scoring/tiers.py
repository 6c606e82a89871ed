"""Tiers from scores, with hysteresis: a tier is entered at one score and left at a lower one, and
never left within `hold` seconds of entering it, so a score near a threshold does not flap."""

from __future__ import annotations

from dataclasses import dataclass

from guardgate.model import Tier


@dataclass(frozen=True, slots=True)
class TierThresholds:
    """Where tiers begin and end."""

    suspect_enter: float = 0.85
    suspect_exit: float = 0.6
    extractor_enter: float = 0.92
    extractor_exit: float = 0.8
    hold: float = 3600.0
    """Seconds a tier is kept at least once entered (a lower score cannot leave it sooner)."""

    def __post_init__(self) -> None:
        if not (
            0.0 <= self.suspect_exit <= self.suspect_enter <= 1.0
            and self.suspect_enter <= self.extractor_enter <= 1.0
            and self.suspect_exit <= self.extractor_exit <= self.extractor_enter
        ):
            raise ValueError(
                "tier thresholds must satisfy suspect_exit <= suspect_enter <= extractor_enter "
                "and suspect_exit <= extractor_exit <= extractor_enter, all in [0, 1]"
            )

    def next_tier(self, previous: Tier, entered: float, score: float, now: float) -> Tier:
        """The tier after a request scored `score`, given the tier held since `entered`."""
        if score >= self.extractor_enter:
            return Tier.EXTRACTOR
        held = now - entered < self.hold
        if previous is Tier.EXTRACTOR:
            if score >= self.extractor_exit or held:
                return Tier.EXTRACTOR
            return Tier.SUSPECT if score >= self.suspect_exit else Tier.NORMAL
        if score >= self.suspect_enter:
            return Tier.SUSPECT
        if previous is Tier.SUSPECT and (score >= self.suspect_exit or held):
            return Tier.SUSPECT
        return Tier.NORMAL
