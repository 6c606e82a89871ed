"""Per-account extraction features: what one request adds, and the bounded state it updates.

An account's state is a fixed set of exponentially decayed sums (one per indicator below), a
decayed request count, the last few networks it came from and the last time it was seen in each
four-hour slot of the day. Updating it costs the same whatever the account's history (O(1)), and
it never grows: about 25 numbers and a few short strings.

Most features are *rates*: the decayed share of the account's recent requests that showed an
indicator, shrunk towards a typical legitimate value by `prior_weight` pseudo-requests, so that one
odd request from a new account does not make it look like a farm. One is a *volume*: `harvest_k`,
the decayed thousands of output tokens the account asked for in single-shot requests with prompts
not seen before, which no rate can hide (a farm that spreads its traffic over more accounts pools
it again in its cluster).

No indicator can lower a score, and none is a threshold to sit just under: an attacker's free
choices (streaming, bursts, a system prompt, sampling parameters, a `max_tokens` of 7,999) change
nothing or only move it smoothly, and a lower output budget costs the harvest it buys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from guardgate.model import Observation

FOCUS_AREAS = frozenset({"coding", "tools", "reasoning", "grading"})
"""Capability areas extraction targets (agentic coding, tool use, reasoning, rubric grading)."""

DEFAULT_BUDGET = 4096
"""Output tokens assumed for a request that sets no limit (the upstream's default applies)."""

MIN_BUDGET = 256
"""An output budget at or below this counts as none in `budget` (a short answer)."""

MAX_BUDGET = 32768
"""An output budget at or above this counts fully in `budget` and in `harvest_k`."""

SLOTS = 6
"""Four-hour slots of the day; round-the-clock activity fills all of them."""

RECENT_NETWORKS = 4
"""Networks remembered per account to tell a new exit address from a known one."""

NEW_MODEL_WINDOW = 86400.0
"""Seconds after a model is first seen during which using it counts as moving to a new model."""

STATELESS: tuple[str, ...] = (
    "elicit",
    "budget",
    "harvest",
    "single_shot",
    "focus",
    "deep",
    "reasoned_long",
    "harvest_k",
    "asked_k",
)
"""Indicators one request gives on its own, in state order."""

INDICATORS: tuple[str, ...] = (*STATELESS, "new_network", "new_model", "novel")
"""Per-request indicators, in state order. See `INDICATOR_TEXT` for what each one means."""

NOVELTY_SCALED: tuple[int, ...] = tuple(
    INDICATORS.index(name) for name in ("deep", "reasoned_long", "harvest_k")
)
"""Indicators that count only for a prompt not seen before (in the deployment, within
`PROMPT_WINDOW`): a benchmark run again, a class's shared homework or a synthetic-data job
sampling one prompt many times is not new ground; a distiller needs new prompts to cover a task
space, and every repeat it sends to look like an evaluation is a request that buys it nothing
new."""

PROMPT_WINDOW = 7 * 86400.0
"""Seconds a prompt is remembered as seen."""

HARVEST_K = INDICATORS.index("harvest_k")
"""Index of the volume indicator (thousands of single-shot output tokens), not a rate."""

ASKED_K = INDICATORS.index("asked_k")
"""Index of the thousands of output tokens asked for in any request (conversations and agent
loops included): a volume a cluster's score reads per member, not a rate."""

VOLUMES = frozenset({HARVEST_K, ASKED_K})
"""Indicators that are volumes, not rates."""

INDICATOR_TEXT: dict[str, str] = {
    "elicit": "asks the model to write out its reasoning",
    "budget": "asks for long answers",
    "harvest": "harvests outputs (n > 1 or logprobs)",
    "single_shot": "single-shot prompts rather than conversations",
    "focus": "targets coding, tool use, reasoning or grading",
    "deep": "long answers to prompts that follow from no earlier answer",
    "reasoned_long": "asks for written-out reasoning at length",
    "harvest_k": "output tokens harvested in single-shot requests",
    "asked_k": "output tokens asked for",
    "new_network": "comes from a new network on many requests",
    "new_model": "moved to a newly released model",
    "novel": "sends prompts never seen before",
}
"""What a high rate of each indicator means, in words an operator reads."""


def budget_tokens(obs: Observation) -> int:
    """The output tokens a request allows (its `max_tokens`, else `DEFAULT_BUDGET`), at most
    `MAX_BUDGET`."""
    limit = obs.max_tokens
    if limit is None or limit <= 0:
        limit = DEFAULT_BUDGET
    return min(limit, MAX_BUDGET)


def budget_share(tokens: int) -> float:
    """A budget on a log scale from 0 (`MIN_BUDGET` or less) to 1 (`MAX_BUDGET`): smooth, so that
    no `max_tokens` sits just under a threshold, and each halving of the budget (which halves what
    a harvester gets) lowers it by the same step."""
    if tokens <= MIN_BUDGET:
        return 0.0
    return min(1.0, math.log(tokens / MIN_BUDGET) / math.log(MAX_BUDGET / MIN_BUDGET))


def stateless(obs: Observation) -> tuple[float, ...]:
    """The values of the `STATELESS` indicators of one request."""
    elicit = 1.0 if obs.elicits_reasoning else 0.0
    tokens = budget_tokens(obs)
    budget = budget_share(tokens)
    single = 1.0 if obs.turns <= 1 else 0.0
    return (
        elicit,
        budget,
        1.0 if obs.n > 1 or obs.logprobs else 0.0,
        single,
        1.0 if obs.capability in FOCUS_AREAS else 0.0,
        budget * single,
        budget * elicit,
        tokens * max(1, min(obs.n, 8)) * single / 1000.0,
        tokens * max(1, min(obs.n, 8)) / 1000.0,
    )


def indicators(
    obs: Observation, networks: tuple[str, ...], new_model: bool, novel: bool = True
) -> tuple[float, ...]:
    """The indicator values of one request, given the account's recent networks, whether its
    model is new and whether its prompt is (see `NOVELTY_SCALED`)."""
    x = [
        *stateless(obs),
        1.0 if networks and obs.ip_prefix not in networks else 0.0,
        1.0 if new_model else 0.0,
        1.0 if novel else 0.0,
    ]
    if not novel:
        for i in NOVELTY_SCALED:
            x[i] = 0.0
    return tuple(x)


@dataclass(slots=True)
class AccountState:
    """The mutable feature state of one account (kept by a `FeatureStore`)."""

    ts: float = 0.0
    """Time of the last request."""
    count: float = 0.0
    """Decayed number of requests."""
    sums: list[float] | None = None
    """Decayed sum of each indicator, in `INDICATORS` order."""
    networks: tuple[str, ...] = ()
    """The last `RECENT_NETWORKS` distinct networks, newest first."""
    slots: list[float] | None = None
    """Last request time in each four-hour slot of the day."""
    tier: str = "normal"
    """The tier last decided (for hysteresis)."""
    tier_ts: float = 0.0
    """When that tier was entered."""
    requests: int = 0
    """Requests ever counted (not decayed)."""
    novel: bool = False
    """Whether the last request's prompt was new to the deployment."""


def decay(dt: float, half_life: float) -> float:
    """The factor a decayed sum keeps after `dt` seconds."""
    if dt <= 0:
        return 1.0
    return math.exp(-dt * math.log(2) / half_life)


def update(
    state: AccountState,
    obs: Observation,
    *,
    half_life: float,
    new_model: bool,
    novel: bool = True,
) -> AccountState:
    """Fold one request into `state` (in place) and return it."""
    x = indicators(obs, state.networks, new_model, novel)
    keep = decay(obs.ts - state.ts, half_life) if state.requests else 0.0
    sums = state.sums if state.sums is not None else [0.0] * len(INDICATORS)
    for i, value in enumerate(x):
        sums[i] = sums[i] * keep + value
    state.sums = sums
    state.count = state.count * keep + 1.0
    if obs.ip_prefix:
        rest = tuple(n for n in state.networks if n != obs.ip_prefix)
        state.networks = (obs.ip_prefix, *rest)[:RECENT_NETWORKS]
    slots = state.slots if state.slots is not None else [0.0] * SLOTS
    slots[slot_of(obs.ts)] = obs.ts
    state.slots = slots
    state.ts = max(state.ts, obs.ts)
    state.requests += 1
    state.novel = novel
    return state


def slot_of(ts: float) -> int:
    """The four-hour slot (UTC) of a time."""
    return int(ts // 14400) % SLOTS


def slots_covered(states: list[AccountState], now: float) -> int:
    """Four-hour slots in which any of `states` (a cluster's members) sent a request in the last
    24 hours: how much of the clock the accounts cover together."""
    covered = 0
    for k in range(SLOTS):
        for state in states:
            t = state.slots[k] if state.slots is not None else 0.0
            if t > 0 and now - t < 86400.0:
                covered += 1
                break
    return covered


def slots_active(state: AccountState, now: float) -> int:
    """Four-hour slots with a request in the last 24 hours."""
    if state.slots is None:
        return 0
    return sum(1 for t in state.slots if t > 0 and now - t < 86400.0)
