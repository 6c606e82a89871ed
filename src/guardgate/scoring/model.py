"""The extraction score: a logistic model over an account's (or a cluster's) feature rates.

    z = bias + history * C / (C + a) + round_the_clock * slots / 6
        + sum_i weight_i * S_i / (C + a) + elicit_long * r_elicit * r_long * C / (C + a)
    score = 1 / (1 + exp(-z))

where `S_i` is the decayed count of requests showing indicator `i`, `C` the decayed request count
and `a` (`prior_weight`) the pseudo-requests every rate is shrunk by (a new account's rates start
at 0). Each term `weight * value` is a contribution in log-odds; the largest positive ones are the
verdict's reasons.

The default weights were fitted (logistic regression, signs constrained to the meaning of each
indicator, every population weighted equally) on the simulator's labelled week and then rounded;
they are documented here so that an operator can read why an account scores what it scores and
change any of them with `GUARDGATE_SCORING_WEIGHTS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from guardgate.records import record
from guardgate.scoring.features import (
    INDICATOR_TEXT,
    INDICATORS,
    SLOTS,
)

DEFAULT_WEIGHTS: dict[str, float] = {
    # Asking for the reasoning: weak alone (students, coding agents and benchmarks do it) and
    # strong together with maximum-length answers (`elicit_long`).
    "elicit": 0.3,
    "long_output": 3.7,
    # n > 1 and logprobs give a student model more than one answer's worth of signal.
    "harvest": 1.5,
    # A person reads a streamed answer as it arrives; harvesting scripts rarely stream.
    "streamed": -5.0,
    "single_shot": 0.4,
    "focus": 0.8,
    # Residential proxy farms come from a new network on most requests.
    "new_network": 0.6,
    # A script sends the same sampling parameters every time; people switch models and settings.
    # (SaaS back ends do too, but they stream or send a system prompt and ask for no reasoning.)
    "same_params": 1.8,
    "new_model": 0.3,
    "no_system": 1.1,
    # Requests within two seconds of the previous one: batch jobs and eval harnesses at
    # concurrency. Farms spread their load over accounts and time to look human, so bursts weigh
    # against extraction; a farm that bursts is slowed by the per-account quotas instead.
    "burst": -5.0,
    "round_the_clock": 3.8,
    "elicit_long": 2.1,
    # An account with a long record needs more evidence than a new one: its rates are settled.
    "history": -3.6,
    # Per doubling of a cluster's size (clusters only).
    "cluster": 0.5,
    "bias": -2.0,
}
"""Log-odds weight of each term; `bias` is the intercept."""

EXTRA_TEXT: dict[str, str] = {
    "round_the_clock": "active round the clock",
    "elicit_long": "asks for written-out reasoning at maximum length",
    "cluster_size": "several accounts acting as one",
}


@record
class Score:
    """A score and the contributions behind it."""

    value: float
    contributions: tuple[tuple[str, float], ...] = ()
    """(term, log-odds contribution), largest first; only positive ones are kept."""

    def reasons(self, top: int = 3) -> tuple[str, ...]:
        """The largest contributions in words."""
        out = []
        for name, contribution in self.contributions[:top]:
            text = INDICATOR_TEXT.get(name) or EXTRA_TEXT.get(name, name)
            out.append(f"{text} (+{contribution:.1f})")
        return tuple(out)


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """The weights and the shrinkage of the score."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    prior_weight: float = 2.0
    """Pseudo-requests every rate is shrunk by."""

    @classmethod
    def with_overrides(cls, overrides: dict[str, float], **kwargs: Any) -> ScoringModel:
        """The default weights with some replaced; unknown names are an error."""
        unknown = set(overrides) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(
                f"unknown scoring weights {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}"
            )
        return cls(weights={**DEFAULT_WEIGHTS, **overrides}, **kwargs)

    def score(self, sums: list[float], count: float, slots_active: int, members: int = 1) -> Score:
        """The score of decayed indicator sums over `count` decayed requests of `members`
        accounts."""
        w = self.weights
        denom = count + self.prior_weight
        confidence = count / denom if denom > 0 else 0.0
        terms: list[tuple[str, float]] = []
        for name, s in zip(INDICATORS, sums, strict=True):
            weight = w[name]
            if weight:
                terms.append((name, weight * s / denom))
        terms.append(("round_the_clock", w["round_the_clock"] * slots_active / SLOTS))
        if count > 0:
            r_elicit = sums[0] / count
            r_long = sums[1] / count
            terms.append(("elicit_long", w["elicit_long"] * r_elicit * r_long * confidence))
        if members > 1 and w["cluster"]:
            terms.append(("cluster_size", w["cluster"] * math.log2(members)))
        z = w["bias"] + w["history"] * confidence + sum(c for _, c in terms)
        positive = sorted((t for t in terms if t[1] > 0.05), key=lambda t: -t[1])
        return Score(value=_sigmoid(z), contributions=tuple(positive))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
