"""Memory for tracked accounts: the engine's state (linking store + scoring features) and the
admin activity log, in memory and in Redis.

    python benchmarks/bench_memory.py [--accounts 100000] [--requests-per-account 2]

Each account sends a few requests with realistic evidence: its own IP in a shared /24, one of a
few hundred client fingerprints, parameters, a system prompt shared by an app, a prompt sketch.
Memory state: the Python heap growth of the process (tracemalloc) and its RSS growth. Redis state:
`used_memory` growth of a fresh redis-server (started on a free port), plus the process's own
heap for what stays per replica (the activity log).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import re
import shutil
import time
import tracemalloc
from pathlib import Path

from redis.asyncio import Redis

from guardgate.deployment import Deployment
from guardgate.detection import InlineDetection
from guardgate.model import ApiKind, Observation
from guardgate.settings import load_settings
from guardgate.testing import running_redis

SECRET = "bench-secret-0123456789abcdef"
START = 1_793_577_600.0


def observations(accounts: int, per_account: int, seed: int = 1) -> list[Observation]:
    """`per_account` requests from each of `accounts` accounts over an hour, in time order."""
    rng = random.Random(seed)
    out = []
    total = accounts * per_account
    for i in range(total):
        a = i % accounts
        ip = f"{10 + a % 200}.{(a // 200) % 250}.{(a // 50_000) % 250}.{a % 250}"
        out.append(
            Observation(
                ts=START + i * 3600 / total,
                api=ApiKind.OPENAI_CHAT,
                account=f"{a:024x}",
                client_ip=ip,
                ip_prefix=ip.rsplit(".", 1)[0] + ".0/24",
                model="gpt-x",
                stream=a % 2 == 0,
                user_agent=f"OpenAI/Python 1.{a % 40}.0",
                header_order_hash=f"{a % 300:016x}",
                param_signature=f"{a % 50:016x}",
                key_order_hash=f"{a % 20:016x}",
                system_hash=f"{a % 1000:016x}" if a % 3 else "",
                template_sketch=tuple(rng.getrandbits(60) for _ in range(12)),
                template_hash=f"{rng.getrandbits(64):016x}",
                capability="chat",
                turns=1 + a % 4,
            )
        )
    return out


def rss_mb() -> float:
    """This process's resident memory, in MB."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


async def run(
    obs: list[Observation], redis_url: str | None, trace: bool = True
) -> tuple[float, float, float]:
    """(heap MB, RSS MB, Redis MB) added by tracking the observations' accounts."""
    # A generous Redis timeout: tracemalloc slows this process several times over.
    settings = load_settings(secret=SECRET, redis_url=redis_url or "", redis_timeout=10.0)
    guard = Deployment.from_settings(settings, lambda: obs[-1].ts)
    await guard.start()
    detection = guard.detection
    assert isinstance(detection, InlineDetection)
    redis = Redis.from_url(redis_url) if redis_url else None
    if redis is not None:
        await redis.flushall()
        before_redis = int((await redis.info("memory"))["used_memory"])
    gc.collect()
    rss_before = rss_mb()
    if trace:
        tracemalloc.start()
    batch = 16 if redis_url else 1

    async def one(o: Observation) -> None:
        # The gate's steps on an observation: the engine (and the fail-open memory), policy and
        # the activity record.
        verdict = await detection.observe(o)
        decision = guard.gate.policy.decide(guard.overrides.apply(verdict))
        detection.activity.record(o, decision, engine_tier=verdict.tier)

    for start in range(0, len(obs), batch):
        await asyncio.gather(*(one(o) for o in obs[start : start + batch]))
    await detection.drain()
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] / 2**20 if trace else 0.0
    tracemalloc.stop()
    rss = rss_mb() - rss_before
    redis_mb = 0.0
    if redis is not None:
        redis_mb = (int((await redis.info("memory"))["used_memory"]) - before_redis) / 2**20
        await redis.aclose()
    await guard.close()
    return heap, rss, redis_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--requests-per-account", type=int, default=2)
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--rss", action="store_true", help="no tracemalloc (several times faster): RSS only"
    )
    args = parser.parse_args()
    obs = observations(args.accounts, args.requests_per_account)
    n = args.accounts
    rows = []
    trace = not args.rss
    if not args.no_memory:
        started = time.perf_counter()
        heap, rss, _ = asyncio.run(run(obs, None, trace))
        rows.append(("memory", heap, rss, 0.0, time.perf_counter() - started))
    if shutil.which("redis-server") is not None and not args.no_redis:
        with running_redis() as server:
            started = time.perf_counter()
            heap, rss, redis_mb = asyncio.run(run(obs, server.url, trace))
            rows.append(("redis", heap, rss, redis_mb, time.perf_counter() - started))
    print(f"\n{n} accounts x {args.requests_per_account} requests")
    print(f"{'state':<8}{'heap MB':>9}{'RSS MB':>8}{'Redis MB':>10}{'bytes/account':>15}{'s':>6}")
    for name, heap, rss, redis_mb, seconds in rows:
        per = ((heap if trace else rss) + redis_mb) * 2**20 / n
        print(f"{name:<8}{heap:>9.1f}{rss:>8.1f}{redis_mb:>10.1f}{per:>15.0f}{seconds:>6.0f}")
    print(
        "(heap: Python allocations still held, tracemalloc (0 with --rss); Redis: used_memory "
        "growth; bytes/account: heap (RSS with --rss) + Redis, the activity log of this "
        "replica included)"
    )


if __name__ == "__main__":
    main()
