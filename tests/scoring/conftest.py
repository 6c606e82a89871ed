"""Real Redis for the feature-store tests: the store tests' session servers, reused."""

from tests.store.conftest import cluster_port, redis_port

__all__ = ["cluster_port", "redis_port"]
