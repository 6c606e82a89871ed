"""Prometheus metrics: what guardgate decided, what it changed, and what it cost.

Each deployment (each middleware instance) owns its own registry, so that several apps in one
process, and tests, never share counters. Label children are cached: `labels()` is the costly
part of prometheus-client on a hot path.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# Latency buckets for the time guardgate adds before a request is forwarded (seconds).
_LATENCY_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.1,
)


class Metrics:
    """The counters and histograms of one deployment."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "guardgate_requests",
            "Requests to LLM endpoints, by API, tier and decision.",
            ("api", "tier", "decision"),
            registry=r,
        )
        self._rate_limited = Counter(
            "guardgate_rate_limited",
            "Requests answered 429 by guardgate, by API and the limit that was hit.",
            ("api", "limit"),
            registry=r,
        )
        self._hardened = Counter(
            "guardgate_reasoning_hardened",
            "Responses whose reasoning was stripped or summarised, by API and policy.",
            ("api", "policy"),
            registry=r,
        )
        self._tokens = Counter(
            "guardgate_tokens",
            "Tokens on guarded requests (prompt: counted before forwarding; completion: after, "
            "counted when a quota charges it, else the upstream's reported usage only).",
            ("kind",),
            registry=r,
        )
        self._faults = Counter(
            "guardgate_faults",
            "guardgate's own faults (Redis errors, bugs), each handled by the fail mode.",
            ("kind",),
            registry=r,
        )
        self._tier_changes = Counter(
            "guardgate_tier_changes",
            "Accounts moving from one tier to another.",
            ("from_tier", "to_tier"),
            registry=r,
        )
        self.added_latency = Histogram(
            "guardgate_added_latency_seconds",
            "Time guardgate spends on a request before forwarding it (body read excluded).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._children: dict[tuple[str, ...], Counter] = {}

    def _child(self, family: Counter, *labels: str) -> Counter:
        key = (family._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = family.labels(*labels)
            self._children[key] = child
        return child

    def request(self, api: str, tier: str, decision: str) -> None:
        """Count one request to an LLM endpoint and what was decided for it."""
        self._child(self._requests, api, tier, decision).inc()

    def rate_limited(self, api: str, limit: str) -> None:
        """Count one 429 answered by guardgate."""
        self._child(self._rate_limited, api, limit).inc()

    def hardened(self, api: str, policy: str) -> None:
        """Count one response whose reasoning was stripped or summarised."""
        self._child(self._hardened, api, policy).inc()

    def tokens(self, kind: str, count: int) -> None:
        """Add `count` tokens of `kind` (`prompt` or `completion`)."""
        if count > 0:
            self._child(self._tokens, kind).inc(count)

    def fault(self, kind: str) -> None:
        """Count one of guardgate's own faults."""
        self._child(self._faults, kind).inc()

    def tier_change(self, old: str, new: str) -> None:
        """Count one account changing tier."""
        self._child(self._tier_changes, old, new).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)
