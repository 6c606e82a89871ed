"""Cost of the quota check per request: microseconds and Redis round trips, memory vs Redis.

Run: `python benchmarks/bench_quota.py [requests]` (needs `redis-server` on PATH for the Redis
rows). Every row runs the same traffic (64 accounts in 8 clusters, normal and suspect tiers) with
all quotas configured: account and cluster RPM and TPM and concurrent streams. `check` is the
work before forwarding; `settle` the work after the answer (charge tokens, release the lease).
Round trips are the requests redis-py writes to its sockets (counted by wrapping
`Connection.send_packed_command`; Redis's own `total_commands_processed` would also count the
commands run inside the Lua scripts). The round trips of one check are issued concurrently, so
its latency is about one round trip.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time

from redis.asyncio.connection import AbstractConnection

from guardgate.model import ApiKind, Tier, Verdict
from guardgate.quota import QuotaEnforcer
from guardgate.settings import load_settings
from guardgate.testing import running_redis

QUOTAS = {
    "account_rpm": 10**6,
    "account_tpm": 10**9,
    "cluster_rpm": 10**6,
    "cluster_tpm": 10**9,
    "account_concurrency": 10**4,
}


_SENT = [0]
_send_packed = AbstractConnection.send_packed_command


async def _counting_send(self: AbstractConnection, *args: object, **kwargs: object) -> None:
    _SENT[0] += 1
    await _send_packed(self, *args, **kwargs)  # type: ignore[arg-type]


AbstractConnection.send_packed_command = _counting_send  # type: ignore[method-assign]


def _verdicts() -> list[Verdict]:
    return [
        Verdict(
            f"acct{i:03d}",
            f"cluster{i % 8}",
            0.0,
            Tier.SUSPECT if i % 4 == 0 else Tier.NORMAL,
            cluster_size=8,
        )
        for i in range(64)
    ]


async def _run(name: str, n: int, port: int | None, **quotas: int) -> tuple[float, float]:
    redis_url = f"redis://127.0.0.1:{port}/0" if port else None
    quotas_ = QuotaEnforcer(load_settings(redis_url=redis_url, secret="bench" * 8, **quotas))
    verdicts = _verdicts()
    for v in verdicts[:8]:  # warm up: connections, script loading
        outcome = await quotas_.check(v, ApiKind.OPENAI_CHAT, 100)
        if outcome.ticket:
            await quotas_.settle(outcome.ticket, 50)
    before = _SENT[0]
    check_s = settle_s = check_trips = 0.0
    for i in range(n):
        verdict = verdicts[i % len(verdicts)]
        t0 = time.perf_counter()
        sent = _SENT[0]
        outcome = await quotas_.check(verdict, ApiKind.OPENAI_CHAT, 100)
        t1 = time.perf_counter()
        check_trips += _SENT[0] - sent
        assert outcome.allowed, outcome
        if outcome.ticket:
            await quotas_.settle(outcome.ticket, 50)
        check_s += t1 - t0
        settle_s += time.perf_counter() - t1
    trips = (_SENT[0] - before) / n
    await quotas_.close()
    print(
        f"{name:<34} check {check_s / n * 1e6:7.1f} us {check_trips / n:4.1f} trips"
        f"   settle {settle_s / n * 1e6:7.1f} us   round trips/request {trips:4.1f}"
    )
    return check_s / n, trips


async def _bench(n: int, port: int | None) -> None:
    print(f"{n} requests, 64 accounts, 8 clusters, 1 in 4 suspect (two counters per limit)\n")
    base, _ = await _run("no quotas configured", n, None)
    mem, _ = await _run("memory: RPM+TPM+cluster+streams", n, None, **QUOTAS)
    mem_rpm, _ = await _run("memory: account RPM only", n, None, account_rpm=10**6)
    if port is None:
        print("\nredis-server not found: Redis rows skipped")
        return
    red, _ = await _run("redis: RPM+TPM+cluster+streams", n, port, **QUOTAS)
    red_rpm, _ = await _run("redis: account RPM only", n, port, account_rpm=10**6)
    print(
        f"\nratios (check): memory/none {mem / max(base, 1e-9):.0f}x, "
        f"redis/memory {red / mem:.1f}x (all quotas), {red_rpm / mem_rpm:.1f}x (RPM only)"
    )


def main(n: int) -> None:
    """Run the benchmark, with a throwaway redis-server when one is installed."""
    if shutil.which("redis-server") is None:
        asyncio.run(_bench(n, None))
        return
    with running_redis() as server:
        asyncio.run(_bench(n, server.port))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
