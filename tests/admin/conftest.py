"""A real Redis for the admin tests (the quota tests' redis-server runner, on a free port)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.admin.admin_client import TOKEN
from tests.admin.attack_traffic import Simulated, TrafficClock, attack, harvest, simulate
from tests.gateway import running_mock, running_sidecar

from guardgate.testing.redis_server import RedisServer, running_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests keep apart by their own ids and key prefixes."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="package")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Simulated]]:
    """A sidecar on its own Redis that has served a simulated day with attacks, and a lone
    extractor (`harvest`), on a clock the traffic moves (the same for any machine load; the
    harvester's pauses without sleeping)."""
    sim = simulate(tmp_path_factory.mktemp("sim"))
    clock = TrafficClock()
    with (
        running_redis() as redis,
        running_mock() as mock,
        running_sidecar(
            mock.url,
            clock=clock,
            admin_token=TOKEN,
            redis_url=redis.url,
            trusted_proxies="127.0.0.1/32",
        ) as gate,
    ):
        attack(gate.url, sim, clock=clock)
        harvest(gate.url, wait=clock.wait)
        yield gate.url, sim
