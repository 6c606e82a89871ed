"""Where account feature state lives: the `FeatureStore` protocol and its in-memory implementation.

The Redis implementation (`RedisFeatureStore`) runs the same update in one Lua call, so that
replicas share each account's features; both give the same numbers on the same input.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from guardgate.model import Observation
from guardgate.scoring.features import NEW_MODEL_WINDOW, PROMPT_WINDOW, AccountState, update


@dataclass(frozen=True, slots=True)
class FeatureLimits:
    """Decay and retention of feature state."""

    half_life: float = 86400.0
    """Seconds after which a request counts half as much in an account's rates."""
    idle_ttl: float = 7 * 86400.0
    """Seconds of inactivity after which an account's state is forgotten."""
    new_model_window: float = NEW_MODEL_WINDOW
    """Seconds after a model's first request during which using it counts as moving to it.
    Models already in use in the deployment's first `new_model_window` are never new."""
    prompt_window: float = PROMPT_WINDOW
    """Seconds a prompt (its hash) is remembered as seen in the deployment."""
    max_prompts: int = 2_000_000
    """Prompt hashes remembered at most (`GUARDGATE_MAX_PROMPTS`), in memory and in Redis; past
    it, the prompt first seen longest ago is evicted (it counts as new when it comes back)."""


@runtime_checkable
class FeatureStore(Protocol):
    """Per-account feature state, updated once per request."""

    limits: FeatureLimits

    async def start(self) -> None:
        """Open connections."""

    async def close(self) -> None:
        """Close connections."""

    async def update(self, obs: Observation) -> AccountState:
        """Fold `obs` into its account's state atomically and return the new state."""
        ...

    async def set_tier(self, account: str, tier: str, ts: float) -> None:
        """Remember the tier the account entered at `ts` (only called when it changes)."""

    async def forget(self, account: str) -> bool:
        """Drop the account's state (an upstream refused its key, or it was evicted)."""
        ...

    async def states(self, accounts: Sequence[str]) -> dict[str, AccountState]:
        """The current state of each of `accounts` that has one (background use)."""
        ...


def is_new_model(first_seen: float, started: float, now: float, window: float) -> bool:
    """Whether a request at `now` on a model first seen at `first_seen` moves to a new model."""
    return first_seen - started >= window and now - first_seen < window


_SWEEP_EVERY = 8
_SWEEP_PASS = 65_536
"""Every `_SWEEP_EVERY` updates, a slice of the accounts is checked for idleness, so that one
pass over all of them spans `_SWEEP_PASS` updates: a pass at once every 8,192 updates stalled
the request that set it off (11-34 ms at 100k accounts). An update makes at most one state, so
at most a pass's worth of idle states wait to be dropped; against a week's `idle_ttl` a pass
every 8,192 updates only cost CPU (each state checked is a cache miss: 6% of a detector
process's time at 100k accounts)."""
MAX_MODELS = 1000
"""Model names remembered (a client can send any string as a model name)."""


class MemoryFeatureStore:
    """Feature state of one process."""

    def __init__(
        self,
        limits: FeatureLimits | None = None,
        *,
        on_prompts_evicted: Callable[[int], None] | None = None,
    ) -> None:
        self.limits = limits if limits is not None else FeatureLimits()
        self.on_prompts_evicted = on_prompts_evicted
        """Told how many prompts were evicted to stay under `limits.max_prompts`."""
        self._states: dict[str, AccountState] = {}
        self._models: dict[str, float] = {}
        self._started: float | None = None
        self._updates = 0
        self._prompts: OrderedDict[str, float] = OrderedDict()
        """Prompt hash -> request time first seen, in the order they were made known (an
        `OrderedDict`: a plain dict's oldest entry costs a scan past every one deleted before
        it, which made each insertion at the cap O(cap))."""
        self._introduced: dict[str, str] = {}
        """Account -> the prompt its first request made known, while it has made one request."""
        self._sweep_queue: list[str] = []
        """Accounts left to check in the current sweep (a copy of the keys, taken in C)."""
        self._sweep_batch = 1

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def update(self, obs: Observation) -> AccountState:
        """Fold `obs` into its account's state."""
        limits = self.limits
        if self._started is None:
            self._started = obs.ts
        first = self._models.get(obs.model, obs.ts)
        if obs.model and obs.model not in self._models and len(self._models) < MAX_MODELS:
            self._models[obs.model] = obs.ts
        new_model = bool(obs.model) and is_new_model(
            first, self._started, obs.ts, limits.new_model_window
        )
        novel = self._novel(obs.prompt_hash, obs.ts)
        state = self._states.get(obs.account)
        if state is None or obs.ts - state.ts > limits.idle_ttl:
            state = self._states[obs.account] = AccountState()
            if novel and obs.prompt_hash:
                self._introduced[obs.account] = obs.prompt_hash
            else:
                self._introduced.pop(obs.account, None)
        elif state.requests == 1:
            self._introduced.pop(obs.account, None)
        update(state, obs, half_life=limits.half_life, new_model=new_model, novel=novel)
        self._updates += 1
        if self._updates % _SWEEP_EVERY == 0:
            self._sweep(obs.ts)
        return state

    def _novel(self, prompt: str, ts: float) -> bool:
        """Whether no request in the last `prompt_window` seconds (request time) made this prompt
        known, as Redis's sorted set of prompts seen answers: an unknown prompt (no content
        features) counts as new."""
        if not prompt:
            return True
        prompts = self._prompts
        window = self.limits.prompt_window
        seen = prompts.get(prompt)
        if seen is not None and ts - seen < window:
            return False
        if seen is not None:
            del prompts[prompt]  # made known anew: it moves to the end
        # Oldest first (as Redis's sorted set): drop those past the window, then, at the cap,
        # evict the prompt made known longest ago.
        evicted = 0
        while prompts:
            first = next(iter(prompts.values()))
            if ts - first >= window:
                prompts.popitem(last=False)
            elif len(prompts) >= self.limits.max_prompts:
                prompts.popitem(last=False)
                evicted += 1
            else:
                break
        prompts[prompt] = ts
        if evicted and self.on_prompts_evicted is not None:
            self.on_prompts_evicted(evicted)
        return True

    async def set_tier(self, account: str, tier: str, ts: float) -> None:
        """Remember the tier entered."""
        state = self._states.get(account)
        if state is not None:
            state.tier = tier
            state.tier_ts = ts

    async def forget(self, account: str) -> bool:
        """Drop the account's state and, when it made one request, the prompt that request made
        known (unless a later request made it known anew)."""
        state = self._states.pop(account, None)
        prompt = self._introduced.pop(account, None)
        if state is None:
            return False
        if state.requests == 1 and prompt is not None and self._prompts.get(prompt) == state.ts:
            del self._prompts[prompt]
        return True

    async def states(self, accounts: Sequence[str]) -> dict[str, AccountState]:
        """The state of each known account."""
        found = {}
        for account in accounts:
            state = self._states.get(account)
            if state is not None:
                found[account] = state
        return found

    def __len__(self) -> int:
        return len(self._states)

    @property
    def prompts(self) -> int:
        """Prompts remembered as seen (at most `limits.max_prompts`)."""
        return len(self._prompts)

    def _sweep(self, now: float) -> None:
        # Forget idle accounts, as Redis expires their hashes: a batch at a time, so that no
        # request pays for a pass over every account.
        queue = self._sweep_queue
        if not queue:
            queue = self._sweep_queue = list(self._states)
            self._sweep_batch = 1 + len(queue) * _SWEEP_EVERY // _SWEEP_PASS
        cutoff = now - self.limits.idle_ttl
        size = self._sweep_batch
        batch = queue[-size:]
        del queue[-size:]
        states = self._states
        for account in batch:
            state = states.get(account)
            if state is not None and state.ts < cutoff:
                del states[account]
                self._introduced.pop(account, None)
