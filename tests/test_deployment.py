"""`Deployment.from_settings`: every Redis-backed part (linking store, feature store, overrides,
quota counters) on one connection pool; before, each built a client of its own from the URL."""

from __future__ import annotations

import json

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest, InlineDetection
from guardgate.model import ApiKind
from guardgate.overrides import RedisOverrideBackend
from guardgate.settings import load_settings
from guardgate.store import RedisStore
from guardgate.testing.redis_server import running_redis
from guardgate.usage import Usage


async def test_every_redis_part_shares_one_connection_pool() -> None:
    with running_redis() as redis:
        deployment = Deployment.from_settings(load_settings(redis_url=redis.url, account_rpm=100))
        detection = deployment.detection
        assert isinstance(detection, InlineDetection)
        store = detection.engine.store
        assert isinstance(store, RedisStore)
        backend = deployment.overrides.backend
        assert isinstance(backend, RedisOverrideBackend)
        pool = deployment.redis.connection_pool
        clients = {
            "linking": store.client,
            "scoring": detection.engine.scorer.store.client,  # type: ignore[attr-defined]
            "overrides": backend.client,
            "quotas": deployment.quotas.backend.client,
        }
        assert {name: c.connection_pool is pool for name, c in clients.items()} == {
            name: True for name in clients
        }
        await deployment.start()
        try:
            data = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            for i in range(20):
                headers = [(b"authorization", f"Bearer sk-pool-{i}".encode())]
                request = GateRequest(
                    ApiKind.OPENAI_CHAT, headers, "198.51.100.2", json.dumps(data).encode(), data
                )
                admission = await deployment.gate.admit(request)
                assert admission.decision.reject_status is None
                await deployment.gate.settle(admission, Usage(10))
            # One pool: the connections this deployment opened, all to one place, few of them.
            assert 1 <= len(pool._available_connections) + len(pool._in_use_connections) <= 4
        finally:
            await deployment.close()
