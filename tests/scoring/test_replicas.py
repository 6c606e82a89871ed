"""Two replicas on one Redis share each account's features: alternating requests between them
flag a farm account as fast as one process does."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis
from tests.scoring.traffic import T0, farm_request

from guardgate.engine import Engine
from guardgate.model import Tier
from guardgate.scoring import MemoryFeatureStore, Scorer
from guardgate.scoring.redis_state import RedisFeatureStore
from guardgate.settings import load_settings


async def test_replicas_on_one_redis_score_an_account_together(redis_port: int) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    clients = [Redis(port=redis_port), Redis(port=redis_port)]
    replicas = [
        Engine(load_settings(), scorer=Scorer(RedisFeatureStore(c, prefix=prefix))) for c in clients
    ]
    alone = Engine(load_settings(), scorer=Scorer(MemoryFeatureStore()))
    shared, single = [], []
    for i in range(8):
        obs = farm_request(T0 + 1200 * i, i)
        shared.append(await replicas[i % 2].observe(obs))
        single.append(await alone.observe(obs))
    assert [v.score for v in shared] == [v.score for v in single]
    assert shared[-1].tier is Tier.EXTRACTOR
    for engine in [*replicas, alone]:
        await engine.close()


async def test_an_engine_with_all_state_in_redis_flags_a_farm(redis_port: int) -> None:
    settings = load_settings(redis_url=f"redis://127.0.0.1:{redis_port}/0")
    engine = Engine(settings)
    await engine.start()
    account = f"farm-{uuid.uuid4().hex[:8]}"
    verdicts = [await engine.observe(farm_request(T0 + 1200 * i, i, account)) for i in range(8)]
    await engine.close()
    assert verdicts[0].tier is Tier.NORMAL
    assert verdicts[-1].tier is Tier.EXTRACTOR
    assert verdicts[-1].reasons
