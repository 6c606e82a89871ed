"""Adaptive quotas per account and per cluster: requests and tokens per minute, concurrent streams.

Base amounts are the `normal` tier's (`GUARDGATE_ACCOUNT_RPM`, `_ACCOUNT_TPM`, `_CLUSTER_RPM`,
`_CLUSTER_TPM`, `_ACCOUNT_CONCURRENCY`; 0 is unlimited); `suspect` and `extractor` get the shares
`GUARDGATE_QUOTA_FACTOR_SUSPECT` and `_EXTRACTOR`. A cluster's quota grows with its member count
(see `cluster_scale`). Counters live in memory, or in Redis (`GUARDGATE_REDIS_URL`) shared by
replicas.
"""

from guardgate.quota._backend import QuotaBackend, build_backend, limits_uri
from guardgate.quota._concurrency import (
    LEASE_TTL,
    ConcurrencyGate,
    MemoryConcurrency,
    RedisConcurrency,
)
from guardgate.quota._enforcer import QuotaEnforcer, QuotaOutcome, QuotaTicket
from guardgate.quota._headers import WindowState, rate_limit_headers, sliding_wait
from guardgate.quota._plan import Dimension, Limit, QuotaPlan, QuotaPlanner, cluster_scale

__all__ = [
    "LEASE_TTL",
    "ConcurrencyGate",
    "Dimension",
    "Limit",
    "MemoryConcurrency",
    "QuotaBackend",
    "QuotaEnforcer",
    "QuotaOutcome",
    "QuotaPlan",
    "QuotaPlanner",
    "QuotaTicket",
    "RedisConcurrency",
    "WindowState",
    "build_backend",
    "cluster_scale",
    "limits_uri",
    "rate_limit_headers",
    "sliding_wait",
]
