"""Feature state: memory and Redis (standalone and cluster) give the same numbers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from redis.asyncio import Redis, RedisCluster
from tests.scoring.traffic import DAY, T0, coding_agent_request, eval_request, farm_request

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
