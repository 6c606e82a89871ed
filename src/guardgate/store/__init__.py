"""State shared between requests and replicas: one `Store` protocol, two implementations."""

from guardgate.store._base import Link, LinkChanges, Posting, Store, StoreLimits, Touch
from guardgate.store.memory import MemoryStore
from guardgate.store.redis import RedisStore

__all__ = [
    "Link",
    "LinkChanges",
    "MemoryStore",
    "Posting",
    "RedisStore",
    "Store",
    "StoreLimits",
    "Touch",
]
