"""A real Redis for the admin tests (the quota tests' redis-server runner, on a free port)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.quota.redis_server import RedisServer, running_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests keep apart by their own ids and key prefixes."""
    with running_redis() as server:
        yield server
