"""`RedisFeatureStore`: account feature state shared by replicas, one Lua call per request.

Keys (`P` = `{prefix}`, one hash tag, so Redis Cluster keeps them in one slot): `P:a:<account>`
a hash per account (about 25 short fields, expiring after `idle_ttl` without requests), `P:m`
models and when each was first seen (at most `MAX_MODELS`), `P:t0` the first request's time,
`P:ps` the prompts seen: a sorted set of prompt hashes by the request time each was first seen,
those past `prompt_window` dropped as new ones come, and at most `max_prompts` (the oldest
evicted first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import NoScriptError

from guardgate.model import Observation
from guardgate.scoring.features import (
    INDICATORS,
    NOVELTY_SCALED,
    RECENT_NETWORKS,
    SLOTS,
    AccountState,
    stateless,
)
from guardgate.scoring.state import MAX_MODELS, FeatureLimits

_NAMES = ["ts", "c", "nets", "tier", "tts", "req", "nv"]
_NAMES += [f"s{i}" for i in range(len(INDICATORS))]
_NAMES += [f"l{i}" for i in range(SLOTS)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _values(obs: Observation) -> str:
    """The indicators that need no state, as the script expects them (see `stateless`): exact
    decimal forms, so that Redis and memory sum the same numbers."""
    return ",".join(repr(float(v)) for v in stateless(obs))


def state_from_fields(raw: Sequence[Any]) -> AccountState | None:
    """An `AccountState` from the script's (or HMGET's) reply in `_NAMES` order."""
    values = dict(zip(_NAMES, (None if v is None else _text(v) for v in raw), strict=True))
    if values["req"] is None:
        return None
    n = len(INDICATORS)
    return AccountState(
        ts=float(values["ts"] or 0),
        count=float(values["c"] or 0),
        sums=[float(values[f"s{i}"] or 0) for i in range(n)],
        networks=tuple(x for x in (values["nets"] or "").split(",") if x),
        slots=[float(values[f"l{i}"] or 0) for i in range(SLOTS)],
        tier=values["tier"] or "normal",
        tier_ts=float(values["tts"] or 0),
        novel=values["nv"] == "1",
        requests=int(values["req"]),
    )


class RedisFeatureStore:
    """Feature state in Redis; the same numbers as `MemoryFeatureStore` on the same input."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        limits: FeatureLimits | None = None,
        *,
        prefix: str = "guardgate:score",
        on_prompts_evicted: Callable[[int], None] | None = None,
    ) -> None:
        self.limits = limits if limits is not None else FeatureLimits()
        self.client = client
        self.on_prompts_evicted = on_prompts_evicted
        """Told how many prompts were evicted to stay under `limits.max_prompts`."""
        self.round_trips = 0
        """Requests sent to Redis (a pipeline counts once); read by the benchmark."""
        tag = "{" + prefix + "}"
        self._account = f"{tag}:a:"
        self._models = f"{tag}:m"
        self._started = f"{tag}:t0"
        self._prompts = f"{tag}:ps"
        self._scaled = ",".join(str(i + 1) for i in NOVELTY_SCALED)
        lua = resources.files("guardgate.scoring").joinpath("lua")
        self._src = lua.joinpath("update.lua").read_text()
        self._forget_src = lua.joinpath("forget.lua").read_text()
        self._sha = ""
        self._forget_sha = ""

    async def start(self) -> None:
        """Load the scripts."""
        self._sha = _text(await self.client.script_load(self._src))
        self._forget_sha = _text(await self.client.script_load(self._forget_src))

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    async def update(self, obs: Observation) -> AccountState:
        """Fold `obs` into its account's state: one Lua call."""
        if not self._sha:
            await self.start()
        limits = self.limits
        keys = [
            self._account + obs.account,
            self._models,
            self._started,
            self._prompts,
        ]
        args: list[Any] = [
            repr(float(obs.ts)),
            repr(float(limits.half_life)),
            repr(float(limits.idle_ttl)),
            repr(float(limits.new_model_window)),
            obs.model,
            obs.ip_prefix,
            _values(obs),
            SLOTS,
            RECENT_NETWORKS,
            MAX_MODELS,
            "1" if obs.prompt_hash else "0",
            repr(float(limits.prompt_window)),
            self._scaled,
            obs.prompt_hash,
            limits.max_prompts,
        ]
        self.round_trips += 1
        try:
            reply = await self.client.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            self.round_trips += 1
            reply = await self.client.eval(self._src, len(keys), *keys, *args)
        evicted = int(reply[-1])
        if evicted and self.on_prompts_evicted is not None:
            self.on_prompts_evicted(evicted)
        state = state_from_fields(reply[:-1])
        assert state is not None  # the script has just written it
        return state

    async def set_tier(self, account: str, tier: str, ts: float) -> None:
        """Remember the tier entered (only if the account's state still exists)."""
        self.round_trips += 1
        key = self._account + account
        # HSET on a missing key would create a state without counts: write only when it exists.
        if await self.client.exists(key):
            await self.client.hset(key, mapping={"tier": tier, "tts": repr(float(ts))})

    async def forget(self, account: str) -> bool:
        """Drop the account's state (its hash) and, when it made one request, the prompt that
        request made known."""
        if not self._forget_sha:
            await self.start()
        keys = [self._account + account, self._prompts]
        self.round_trips += 1
        try:
            dropped = await self.client.evalsha(self._forget_sha, len(keys), *keys)
        except NoScriptError:
            self.round_trips += 1
            dropped = await self.client.eval(self._forget_src, len(keys), *keys)
        return bool(dropped)

    async def states(self, accounts: Sequence[str]) -> dict[str, AccountState]:
        """The state of each account that has one (one pipeline per 500 accounts)."""
        found: dict[str, AccountState] = {}
        for start in range(0, len(accounts), 500):
            chunk = accounts[start : start + 500]
            pipe = self.client.pipeline(transaction=False)
            for account in chunk:
                pipe.hmget(self._account + account, _NAMES)
            self.round_trips += 1
            for account, raw in zip(chunk, await pipe.execute(), strict=True):
                state = state_from_fields(raw)
                if state is not None:
                    found[account] = state
        return found
