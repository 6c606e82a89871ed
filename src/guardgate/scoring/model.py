"""The extraction score: a logistic model over an account's (or a cluster's) features.

    z = bias + history * C / (C + a) + sum_i weight_i * S_i / (C + a)
        + volume * log2(1 + K / VOLUME_UNIT)
        + round_the_clock * slots / 6 * r_deep
        + cluster * log2(members) * r_deep
        + cluster_volume * c * log2(members) * log2(1 + A / members / MEMBER_VOLUME_UNIT)
        + pooled_harvest * c * max(0, log2(A / POOL_UNIT))      (clusters only)
        + kin * k
    score = 1 / (1 + exp(-z))

where `S_i` is the decayed sum of indicator `i` (see `features.INDICATORS`), `C` the decayed
request count, `a` (`prior_weight`) the pseudo-requests every rate is shrunk by (a new account's
rates start at 0), `K` the decayed thousands of output tokens asked for in single-shot requests
(`harvest_k`: a volume, summed over a cluster's members), and `r_deep` the shrunk rate of long
answers to single-shot prompts, `A` the decayed thousands of output tokens asked for in any
request (a cluster's, pooled; `POOL_UNIT` is more than a single everyday account asks), `c`
(`clock_share`) how much of the day a cluster's members cover together, and `k`
the kin of the request (`Scorer.judge`: the flagged share of other accounts' recent traffic on
the evidence it carries, for a harvest-shaped request, fading as the account's own record grows).
Each term `weight * value` is a contribution in log-odds; the largest positive ones are the
verdict's reasons.

Every weight is zero or positive: no feature lowers a score, so an attacker has nothing to switch
on to look harmless (streaming, bursts, a system prompt, randomised parameters were such switches
once and are no longer features at all). Round-the-clock activity and the size of a cluster count
only in proportion to the harvest-shaped share of the traffic (`r_deep`): coordination alone, or a
power user's long days, never flags; coordination with harvest at volume does.

The default weights were chosen on the simulator's tuning seeds only (see the README's "Detection:
scores, tiers and reasons"); an operator reads why an account scores what it scores and changes
any of them with `GUARDGATE_SCORING_WEIGHTS`, or picks thresholds for their own traffic with
`guardgate calibrate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from guardgate.records import record
from guardgate.scoring.features import (
    ASKED_K,
    HARVEST_K,
    INDICATOR_TEXT,
    INDICATORS,
    SLOTS,
    VOLUMES,
)

_DEEP = INDICATORS.index("deep")

DEFAULT_WEIGHTS: dict[str, float] = {
    # Asking for the reasoning in words or by parameter: weak, as a farm can leave the wording
    # out and rely on the reasoning the model does anyway.
    "elicit": 0.5,
    # The output budget on a log scale (smooth: no threshold to sit under; each halving of the
    # budget halves what a harvester gets and lowers the term by the same step).
    "budget": 1.0,
    # n > 1 and logprobs give a student model more than one answer's worth of signal.
    "harvest": 2.5,
    "single_shot": 1.5,
    # Coding, tool use, reasoning and grading: what distillation targets.
    "focus": 3.0,
    # Long answers to new single-shot prompts: the shape of harvesting.
    "deep": 5.5,
    "reasoned_long": 2.0,
    # Residential proxy farms come from a new network on many requests (weak: a sticky exit
    # costs a farm little).
    "new_network": 1.0,
    "new_model": 1.5,
    # Prompts never seen before: a task space being covered, not a benchmark run again.
    "novel": 4.0,
    # Per doubling of the new single-shot output tokens asked for (over VOLUME_UNIT thousand).
    "volume": 0.3,
    # Times the share of harvest-shaped requests: long days alone are a power user's (weak: a
    # farm can keep to waking hours at the cost of more accounts).
    "round_the_clock": 1.5,
    # Per doubling of a cluster's size, times its share of harvest-shaped requests.
    "cluster": 1.0,
    # Per doubling of a cluster's size, times the doublings of the output asked for per member
    # (any request, agent loops included) over `MEMBER_VOLUME_UNIT`.
    "cluster_volume": 1.0,
    # Per doubling of the output a cluster asks for, pooled, beyond what a single heavy user asks
    # (`POOL_UNIT`): a farm's harvest is the sum of its accounts', which no one person reaches.
    "pooled_harvest": 2.0,
    # Times the flagged share of the traffic that recently carried this request's evidence (two
    # kinds agreeing; see `reputation`): a farm's new account judged on its first request.
    "kin": 14.0,
    # An account with a long record needs more evidence than a new one: its rates are settled.
    "history": -7.0,
    "bias": -2.8,
}
"""Log-odds weight of each term; `bias` is the intercept."""

VOLUME_UNIT = 500.0
"""Thousands of single-shot output tokens (decayed) from which `volume` counts a doubling."""

POOL_UNIT = 7000.0
"""Thousands of output tokens asked for (decayed), pooled over a cluster, from which
`pooled_harvest` counts a doubling: just beyond the most a single account of the simulator's
everyday populations asked for on the tuning weeks (an agent user's 6,876; a coding agent's 4,981;
evaluation launches, batch jobs of their own, ask far more and are judged alone)."""

DAY_SLOTS = 4
"""Four-hour slots a working day in one time zone covers (see `clock_share`)."""

MEMBER_VOLUME_UNIT = 1000.0
"""Thousands of output tokens asked for per cluster member (decayed) from which
`cluster_volume` counts a doubling."""

EXTRA_TEXT: dict[str, str] = {
    "round_the_clock": "harvest-shaped traffic round the clock",
    "volume": "long answers asked for at volume",
    "cluster_size": "several accounts acting as one, harvesting",
    "cluster_volume": (
        "several accounts acting as one round the clock, each asking for long answers at volume"
    ),
    "pooled_harvest": (
        "several accounts together, round the clock, asking for more than any one person does"
    ),
    "kin": "shares its wording, software or network with flagged accounts",
}
"""What the terms that are not plain indicator rates mean."""


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
    prior_weight: float = 6.0
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

    def score(
        self,
        sums: list[float],
        count: float,
        slots_active: int,
        members: int = 1,
        kin: float = 0.0,
        clock: float = 1.0,
    ) -> Score:
        """The score of decayed indicator sums over `count` decayed requests of `members`
        accounts; `kin` in [0, 1] is the flagged share of the evidence the request carries;
        `clock` in [0, 1] how far the members together cover the clock (`clock_share`), which
        the cluster's volume terms count in proportion to."""
        w = self.weights
        denom = count + self.prior_weight
        confidence = count / denom if denom > 0 else 0.0
        terms: list[tuple[str, float]] = []
        for i, (name, s) in enumerate(zip(INDICATORS, sums, strict=True)):
            if i in VOLUMES:
                continue
            weight = w[name]
            if weight:
                terms.append((name, weight * s / denom))
        volume = max(0.0, sums[HARVEST_K])
        terms.append(("volume", w["volume"] * math.log2(1.0 + volume / VOLUME_UNIT)))
        deep = sums[_DEEP] / denom if denom > 0 else 0.0
        terms.append(("round_the_clock", w["round_the_clock"] * slots_active / SLOTS * deep))
        if members > 1 and w["cluster"]:
            terms.append(("cluster_size", w["cluster"] * math.log2(members) * deep))
        if members > 1 and w["cluster_volume"]:
            # Per doubling of the cluster, times the doublings of the output its average member
            # asks for over a heavy user's: a class or a company asks little per member, a farm
            # of agent loops harvesting the longest reasoning asks a heavy user's share each.
            asked = max(0.0, sums[ASKED_K]) / members
            terms.append(
                (
                    "cluster_volume",
                    w["cluster_volume"]
                    * clock
                    * math.log2(members)
                    * math.log2(1.0 + asked / MEMBER_VOLUME_UNIT),
                )
            )
        if members > 1 and w["pooled_harvest"]:
            terms.append(("pooled_harvest", w["pooled_harvest"] * clock * pooled_excess(sums)))
        if kin > 0 and w["kin"]:
            terms.append(("kin", w["kin"] * kin))
        z = w["bias"] + w["history"] * confidence + sum(c for _, c in terms)
        positive = sorted((t for t in terms if t[1] > 0.05), key=lambda t: -t[1])
        return Score(value=_sigmoid(z), contributions=tuple(positive))


def clock_share(covered: int) -> float:
    """How much a cluster's volume counts, from the four-hour slots of the day its members
    together covered in the last 24 hours: nothing up to `DAY_SLOTS` (one team's working day in
    one time zone, evenings included), all of it round the clock. A team behind one office
    address running the same coding agent at a heavy user's pace each looks, in volume, like a
    farm of agent loops on one cloud host; the farm works round the clock, and keeping all the
    accounts of one address within a working day costs it a third of what each account
    harvests."""
    return min(1.0, max(0.0, (covered - DAY_SLOTS) / (SLOTS - DAY_SLOTS)))


def pooled_excess(sums: list[float]) -> float:
    """Doublings of the output asked for in `sums` (a cluster's, pooled) beyond `POOL_UNIT`."""
    asked = max(0.0, sums[ASKED_K])
    return math.log2(asked / POOL_UNIT) if asked > POOL_UNIT else 0.0


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
