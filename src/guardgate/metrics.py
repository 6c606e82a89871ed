"""Prometheus metrics: what guardgate decided, what it changed, and what it cost.

Each deployment (each middleware instance) owns its own registry, so that several apps in one
process, and tests, never share counters. The request path only adds to plain dicts and a list
of bucket counts (a few hundred nanoseconds); a collector turns them into Prometheus families
when the registry is scraped. prometheus-client's own counters take a lock and look up a label
child on every increment, which cost several microseconds a request here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from enum import StrEnum

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

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

_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "guardgate_requests",
        "Requests to LLM endpoints, by API, tier and decision.",
        ("api", "tier", "decision"),
    ),
    (
        "guardgate_rate_limited",
        "Requests answered 429 by guardgate, by API and the limit that was hit "
        "(account|cluster _ requests|tokens|concurrency).",
        ("api", "limit"),
    ),
    (
        "guardgate_reasoning_hardened",
        "Responses whose reasoning was stripped or summarised, by API and policy.",
        ("api", "policy"),
    ),
    (
        "guardgate_tokens",
        "Tokens on guarded requests (prompt: counted before forwarding; completion: after, "
        "counted when a quota charges it, else the upstream's reported usage only).",
        ("kind",),
    ),
    (
        "guardgate_faults",
        "guardgate's own faults (Redis errors, detector stops, bugs), each handled by the fail "
        "mode.",
        ("kind",),
    ),
    (
        "guardgate_shadow_would",
        "In shadow mode, what enforcement would have done to a request (limited, blocked, "
        "stripped, summarised), by action and tier.",
        ("action", "tier"),
    ),
    (
        "guardgate_tier_changes",
        "Accounts moving from one tier to another.",
        ("from_tier", "to_tier"),
    ),
    (
        "guardgate_accounts_forgotten",
        "Accounts whose state was dropped: `refused` (the upstream answered 401/403 to its key) "
        "or `evicted` (the memory store was at GUARDGATE_MAX_ACCOUNTS).",
        ("reason",),
    ),
    (
        "guardgate_prompts_evicted",
        "Prompts dropped from the record of prompts seen (scoring's novelty) because it was at "
        "GUARDGATE_MAX_PROMPTS; one that comes back counts as new.",
        (),
    ),
)


def _add(counts: dict[tuple[str, ...], int], key: tuple[str, ...], count: int) -> None:
    counts[key] = counts.get(key, 0) + count


class AddedLatency:
    """A histogram of the time guardgate adds before forwarding, as plain bucket counts."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_LATENCY_BUCKETS) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.buckets[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.sum += seconds


class Metrics(Collector):
    """The counters and the histogram of one deployment."""

    def __init__(self) -> None:
        # Plain dicts, not Counters: a Counter defines `__delitem__`, which sends every store
        # through a Python-level slot (~0.8 k instructions more an increment).
        self.counts: dict[str, dict[tuple[str, ...], int]] = {name: {} for name, _, _ in _FAMILIES}
        self._requests = self.counts["guardgate_requests"]
        self._tokens = self.counts["guardgate_tokens"]
        self.added_latency = AddedLatency()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def request(self, api: StrEnum, tier: StrEnum | None, decision: str) -> None:
        """Count one request to an LLM endpoint and what was decided for it (tier `unknown`
        when there was no verdict)."""
        # `_value_`, not `.value` (a property) nor the member (hashed in Python): ~0.2 µs each.
        key = (api._value_, "unknown" if tier is None else tier._value_, decision)
        requests = self._requests
        requests[key] = requests.get(key, 0) + 1

    def rate_limited(self, api: str, limit: str) -> None:
        """Count one 429 answered by guardgate."""
        _add(self.counts["guardgate_rate_limited"], (api, limit), 1)

    def hardened(self, api: str, policy: str) -> None:
        """Count one response whose reasoning was stripped or summarised."""
        _add(self.counts["guardgate_reasoning_hardened"], (api, policy), 1)

    def tokens(self, kind: str, count: int) -> None:
        """Add `count` tokens of `kind` (`prompt` or `completion`)."""
        if count > 0:
            tokens = self._tokens
            tokens[(kind,)] = tokens.get((kind,), 0) + count

    def fault(self, kind: str, count: int = 1) -> None:
        """Count one of guardgate's own faults (or `count` requests touched by one)."""
        _add(self.counts["guardgate_faults"], (kind,), count)

    def shadow_would(self, action: str, tier: str) -> None:
        """Count one request that enforcement would have `action`-ed (shadow mode only)."""
        _add(self.counts["guardgate_shadow_would"], (action, tier), 1)

    def tier_change(self, old: str, new: str) -> None:
        """Count one account changing tier."""
        _add(self.counts["guardgate_tier_changes"], (old, new), 1)

    def forgotten(self, reason: str, count: int = 1) -> None:
        """Count accounts whose state was dropped, and why."""
        _add(self.counts["guardgate_accounts_forgotten"], (reason,), count)

    def prompts_evicted(self, count: int) -> None:
        """Count prompts evicted from the record of prompts seen at its cap."""
        _add(self.counts["guardgate_prompts_evicted"], (), count)

    def collect(self) -> Iterable[Metric]:
        """The families as Prometheus reads them (called by the registry on a scrape)."""
        for name, help_text, labels in _FAMILIES:
            family = CounterMetricFamily(name, help_text, labels=labels)
            for values, total in list(self.counts[name].items()):
                family.add_metric(values, total)
            yield family
        latency = self.added_latency
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*_LATENCY_BUCKETS, float("inf")), latency.buckets, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "guardgate_added_latency_seconds",
            "Time guardgate spends on a request before forwarding it (body read excluded).",
            buckets=buckets,
            sum_value=latency.sum,
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)
