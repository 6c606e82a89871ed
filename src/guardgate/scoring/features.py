"""Per-account extraction features: what one request adds, and the bounded state it updates.

An account's state is a fixed set of exponentially decayed sums (one per indicator below), a
decayed request count, the last few networks it came from, its last parameter signature and the
last time it was seen in each four-hour slot of the day. Updating it costs the same whatever the
account's history (O(1)), and it never grows: about 30 numbers and a few short strings.

Every feature is a *rate*: the decayed share of the account's recent requests that showed an
indicator, shrunk towards a typical legitimate value by `prior_weight` pseudo-requests, so that one
odd request from a new account does not make it look like a farm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from guardgate.model import Observation

FOCUS_AREAS = frozenset({"coding", "tools", "reasoning", "grading"})
"""Capability areas extraction targets (agentic coding, tool use, reasoning, rubric grading)."""

LONG_OUTPUT_TOKENS = 8000
"""A `max_tokens` at or above this asks for the longest answers the model gives."""

SLOTS = 6
"""Four-hour slots of the day; round-the-clock activity fills all of them."""

RECENT_NETWORKS = 4
"""Networks remembered per account to tell a new exit address from a known one."""

BURST_GAP = 2.0
"""Seconds: a request this soon after the account's previous one is part of a burst."""

NEW_MODEL_WINDOW = 86400.0
"""Seconds after a model is first seen during which using it counts as moving to a new model."""

INDICATORS: tuple[str, ...] = (
    "elicit",
    "long_output",
    "harvest",
    "streamed",
    "single_shot",
    "focus",
    "new_network",
    "same_params",
    "new_model",
    "no_system",
    "burst",
)
"""Per-request indicators, in state order. See `INDICATOR_TEXT` for what each one means."""

INDICATOR_TEXT: dict[str, str] = {
    "elicit": "asks the model to write out its reasoning",
    "long_output": f"asks for maximum-length answers (max_tokens >= {LONG_OUTPUT_TOKENS})",
    "harvest": "harvests outputs (n > 1 or logprobs)",
    "streamed": "streams answers to a reader",
    "single_shot": "single-shot prompts rather than conversations",
    "focus": "targets coding, tool use, reasoning or grading",
    "new_network": "comes from a new network on many requests",
    "same_params": "sends identical sampling parameters",
    "new_model": "moved to a newly released model",
    "no_system": "sends no system prompt",
    "burst": "sends machine-paced bursts (batch jobs, eval harnesses)",
}
"""What a high rate of each indicator means, in words an operator reads."""


def indicators(
    obs: Observation,
    networks: tuple[str, ...],
    last_params: str,
    new_model: bool,
    previous: float | None = None,
) -> tuple[float, ...]:
    """The indicator values (0 or 1) of one request, given the account's recent state
    (`previous`: the time of its last request, if any)."""
    focus = obs.capability in FOCUS_AREAS
    return (
        1.0 if obs.elicits_reasoning else 0.0,
        1.0 if obs.max_tokens is not None and obs.max_tokens >= LONG_OUTPUT_TOKENS else 0.0,
        1.0 if obs.n > 1 or obs.logprobs else 0.0,
        1.0 if obs.stream else 0.0,
        1.0 if obs.turns <= 1 else 0.0,
        1.0 if focus else 0.0,
        1.0 if networks and obs.ip_prefix not in networks else 0.0,
        1.0 if last_params and obs.param_signature == last_params else 0.0,
        1.0 if new_model else 0.0,
        1.0 if not obs.system_hash else 0.0,
        1.0 if previous is not None and obs.ts - previous < BURST_GAP else 0.0,
    )


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
    params: str = ""
    """The last parameter signature."""
    slots: list[float] | None = None
    """Last request time in each four-hour slot of the day."""
    tier: str = "normal"
    """The tier last decided (for hysteresis)."""
    tier_ts: float = 0.0
    """When that tier was entered."""
    requests: int = 0
    """Requests ever counted (not decayed)."""


def decay(dt: float, half_life: float) -> float:
    """The factor a decayed sum keeps after `dt` seconds."""
    if dt <= 0:
        return 1.0
    return math.exp(-dt * math.log(2) / half_life)


def update(
    state: AccountState, obs: Observation, *, half_life: float, new_model: bool
) -> AccountState:
    """Fold one request into `state` (in place) and return it."""
    previous = state.ts if state.requests else None
    x = indicators(obs, state.networks, state.params, new_model, previous)
    keep = decay(obs.ts - state.ts, half_life) if state.requests else 0.0
    sums = state.sums if state.sums is not None else [0.0] * len(INDICATORS)
    for i, value in enumerate(x):
        sums[i] = sums[i] * keep + value
    state.sums = sums
    state.count = state.count * keep + 1.0
    if obs.ip_prefix:
        rest = tuple(n for n in state.networks if n != obs.ip_prefix)
        state.networks = (obs.ip_prefix, *rest)[:RECENT_NETWORKS]
    state.params = obs.param_signature
    slots = state.slots if state.slots is not None else [0.0] * SLOTS
    slots[slot_of(obs.ts)] = obs.ts
    state.slots = slots
    state.ts = max(state.ts, obs.ts)
    state.requests += 1
    return state


def slot_of(ts: float) -> int:
    """The four-hour slot (UTC) of a time."""
    return int(ts // 14400) % SLOTS


def slots_active(state: AccountState, now: float) -> int:
    """Four-hour slots with a request in the last 24 hours."""
    if state.slots is None:
        return 0
    return sum(1 for t in state.slots if t > 0 and now - t < 86400.0)
