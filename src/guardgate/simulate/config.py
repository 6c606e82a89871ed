"""The parameters of one simulation run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

DAY = 86400.0
HOUR = 3600.0


def parse_start(text: str) -> float:
    """Unix seconds of an ISO 8601 instant such as `2026-11-02T00:00:00Z` (naive means UTC)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: how long, how big, from when, with which seed.

    `release_at` is when the new model `frontier-2` becomes available; by default day 3 at
    17:00 UTC, or 40% into the span when the span is shorter than four days.
    """

    days: float = 7.0
    scale: float = 1.0
    seed: int = 1
    start: float = 1793577600.0  # 2026-11-02T00:00:00Z, a Monday
    release_at: float | None = None
    variants: bool = True
    """Deal each farm's accounts over its adaptive variants (`simulate.adapt`); False keeps
    every farm as designed."""

    def __post_init__(self) -> None:
        """Reject spans and scales that cannot produce traffic."""
        if self.days <= 0:
            raise ValueError("days must be positive")
        if self.scale <= 0:
            raise ValueError("scale must be positive")

    @property
    def end(self) -> float:
        """Unix seconds at which the span ends (exclusive)."""
        return self.start + self.days * DAY

    @property
    def release(self) -> float:
        """Unix seconds at which `frontier-2` is released."""
        if self.release_at is not None:
            return self.release_at
        if self.days >= 4:
            return self.start + 2 * DAY + 17 * HOUR
        return self.start + 0.4 * self.days * DAY

    def count(self, base: float, minimum: int = 1) -> int:
        """A population size: `base` at scale 1, never below `minimum`."""
        return max(minimum, round(base * self.scale))

    def sized(self, base: float, minimum: int = 1) -> tuple[int, float]:
        """A population size and a volume factor for each member.

        When `minimum` bites at small scales, each member sends proportionally less, so that
        the mix of populations stays the same at every scale.
        """
        n = self.count(base, minimum)
        return n, min(1.0, base * self.scale / n)


TUNING_SEEDS: tuple[int, ...] = (1, 2, 3)
"""Seeds on which the detector's weights and thresholds may be chosen."""

TEST_SEEDS: tuple[int, ...] = (101, 102, 103)
"""Seeds the README reports; never used for tuning."""
