"""A real Redis for the quota tests, and the storage backends they are parametrised over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guardgate.testing.redis_server import RedisServer, running_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests keep apart by their own account ids."""
    with running_redis() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    """None (memory storage) or the URL of the session's Redis."""
    if request.param == "memory":
        return None
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url
