"""Feature state: memory and Redis (standalone and cluster) give the same numbers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from redis.asyncio import Redis, RedisCluster
from tests.scoring.traffic import DAY, T0, coding_agent_request, eval_request, farm_request

from guardgate.model import Observation
from guardgate.scoring import INDICATORS, FeatureLimits, FeatureStore, MemoryFeatureStore
from guardgate.scoring.redis_state import RedisFeatureStore

Factory = Callable[[FeatureLimits], FeatureStore]


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    backend: str = request.param
    port = 0 if backend == "memory" else request.getfixturevalue(f"{backend}_port")
    clients: list[Redis | RedisCluster] = []
    prefix = f"t-{uuid.uuid4().hex[:8]}"

    def factory(limits: FeatureLimits) -> FeatureStore:
        if backend == "memory":
            return MemoryFeatureStore(limits)
        client: Redis | RedisCluster = (
            Redis(port=port) if backend == "redis" else RedisCluster(host="127.0.0.1", port=port)
        )
        clients.append(client)
        return RedisFeatureStore(client, limits, prefix=prefix)

    yield factory
    for client in clients:
        await client.aclose()


def _mixed() -> list:  # type: ignore[type-arg]
    out = []
    for i in range(60):
        ts = T0 + 1800 * i + (i % 7) * 13.25
        out.append(farm_request(ts, i % 5, f"farm-{i % 3}"))
        out.append(coding_agent_request(ts + 1, i))
        out.append(eval_request(ts + 2, i))
    # A model first seen two days in: using it then counts as moving to a new model.
    out.append(replace(farm_request(T0 + 2 * DAY, 1), model="frontier-2"))
    out.append(replace(farm_request(T0 + 2 * DAY + 60, 2), model="frontier-2"))
    return out


async def test_memory_and_redis_give_the_same_state(make: Factory) -> None:
    store = make(FeatureLimits())
    reference = MemoryFeatureStore(FeatureLimits())
    for obs in _mixed():
        got = await store.update(obs)
        want = await reference.update(obs)
        assert got.sums == want.sums
        assert (got.count, got.ts, got.networks, got.slots, got.requests) == (
            want.count,
            want.ts,
            want.networks,
            want.slots,
            want.requests,
        )
    states = await store.states(["farm-1", "dev-1", "nobody"])
    assert set(states) == {"farm-1", "dev-1"}
    await store.close()


async def test_moving_to_a_new_model_is_counted_only_for_models_new_to_the_deployment(
    make: Factory,
) -> None:
    store = make(FeatureLimits())
    new = INDICATORS.index("new_model")
    first = await store.update(farm_request(T0, 0))
    assert first.sums is not None and first.sums[new] == 0.0
    late = replace(farm_request(T0 + 2 * DAY, 1), model="frontier-2")
    state = await store.update(late)
    assert state.sums is not None and state.sums[new] == pytest.approx(1.0, abs=0.3)
    after_move = state.sums[new]
    again = await store.update(replace(farm_request(T0 + 4 * DAY, 2), model="frontier-2"))
    assert again.sums is not None and again.sums[new] < after_move  # no longer new
    await store.close()


async def test_an_idle_account_starts_afresh_and_its_tier_is_remembered_until_then(
    make: Factory,
) -> None:
    store = make(FeatureLimits(idle_ttl=DAY))
    await store.update(farm_request(T0, 0))
    await store.set_tier("farm-1", "extractor", T0 + 1)
    state = await store.update(farm_request(T0 + 60, 1))
    assert (state.tier, state.tier_ts, state.requests) == ("extractor", T0 + 1, 2)
    fresh = await store.update(farm_request(T0 + 3 * DAY, 2))
    assert (fresh.tier, fresh.requests, fresh.count) == ("normal", 1, 1.0)
    await store.close()


def _asks(account: str, prompt: str, ts: float) -> Observation:
    return replace(farm_request(ts, 0, account), prompt_hash=prompt)


async def _novel(store: FeatureStore, account: str, prompt: str, ts: float) -> bool:
    """Whether the prompt counted as new for a first request of `account`."""
    state = await store.update(_asks(account, prompt, ts))
    assert state.requests == 1 and state.sums is not None
    return state.sums[INDICATORS.index("novel")] == 1.0


async def test_prompts_seen_stay_under_max_prompts_the_oldest_evicted(make: Factory) -> None:
    store = make(FeatureLimits(max_prompts=3))
    evicted: list[int] = []
    store.on_prompts_evicted = evicted.append  # type: ignore[attr-defined]
    assert [await _novel(store, f"a{i}", f"p{i}", T0 + i) for i in range(5)] == [True] * 5
    assert sum(evicted) == 2  # p0 and p1
    assert await _novel(store, "b0", "p0", T0 + 10)  # evicted: new again (and evicts p2)
    assert not await _novel(store, "b1", "p4", T0 + 11)  # still remembered
    assert not await _novel(store, "b2", "p0", T0 + 12)
    assert sum(evicted) == 3
    await store.close()


async def test_a_prompt_counts_as_new_again_a_window_after_it_was_first_seen(
    make: Factory,
) -> None:
    # Request time, not Redis's clock: replay over a week of logs decides as live traffic did.
    store = make(FeatureLimits(prompt_window=DAY))
    assert await _novel(store, "a", "p", T0)
    assert not await _novel(store, "b", "p", T0 + DAY / 2)
    assert await _novel(store, "c", "p", T0 + DAY + 1)
    assert not await _novel(store, "d", "p", T0 + DAY + 2)
    await store.close()


async def test_forgetting_a_one_request_account_takes_back_the_prompt_it_made_known(
    make: Factory,
) -> None:
    store = make(FeatureLimits())
    assert await _novel(store, "refused", "p", T0)
    assert await store.forget("refused")
    assert await _novel(store, "a", "p", T0 + 1)  # as if the refused key never asked
    # An account that asked a known prompt takes nothing back.
    assert not await _novel(store, "b", "p", T0 + 2)
    assert await store.forget("b")
    assert not await _novel(store, "c", "p", T0 + 3)
    # Nor does one with more requests (it was served: its history stays whole).
    assert await _novel(store, "served", "q", T0 + 4)
    await store.update(_asks("served", "q2", T0 + 5))
    assert await store.forget("served")
    assert not await _novel(store, "d", "q", T0 + 6)
    assert not await store.forget("nobody")
    await store.close()


async def test_memory_forgets_idle_accounts_a_few_at_a_time() -> None:
    """No request pays for a pass over every account: the idle ones are forgotten in small
    batches as requests come (all at once stalled a request for 11-34 ms at 100k accounts)."""
    store = MemoryFeatureStore(FeatureLimits(idle_ttl=DAY))
    for i in range(10_000):
        await store.update(farm_request(T0, i, f"idle-{i}"))
    later = T0 + 2 * DAY
    most = 0
    for i in range(2 * 65_536 + 100):
        known = len(store)
        await store.update(farm_request(later + i, i))
        most = max(most, known - len(store))
    assert len(store) == 1  # every idle account forgotten within two passes' worth of updates
    assert most <= 64
