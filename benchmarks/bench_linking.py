"""Signals + linking: cost per request (memory and Redis), Redis round trips per request, and
linking quality (farm coverage, cluster purity) on the project's simulated traffic.

    python benchmarks/bench_linking.py [--scale 0.3] [--days 2] [--seed 1] [--no-redis]

Starts its own redis-server on a free port (never 6379). Figures are printed side by side from
one run; they are not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from guardgate.linking import Linker, LinkingConfig
from guardgate.model import Observation
from guardgate.protocols.endpoints import api_for_path
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.runner import simulate
from guardgate.store import MemoryStore, RedisStore, Store
from guardgate.testing import RedisServer

SETTINGS = GuardgateSettings(secret="bench")
Record = tuple[Any, list[tuple[bytes, bytes]], str, dict[str, Any], float]


def load(scale: float, days: float, seed: int) -> tuple[list[Record], list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as tmp:
        traffic, labels = Path(tmp) / "t.jsonl", Path(tmp) / "l.jsonl"
        simulate(SimulationConfig(days=days, scale=scale, seed=seed), traffic, labels)
        records = []
        for line in traffic.read_text().splitlines():
            r = json.loads(line)
            headers = [(k.lower().encode(), str(v).encode()) for k, v in r["headers"].items()]
            records.append((api_for_path(r["path"], ""), headers, r["ip"], r["body"], r["ts"]))
        return records, [json.loads(line) for line in labels.read_text().splitlines()]


RECLUSTER_EVERY = 600.0
"""Seconds of request time between re-clusterings in the replay (live: every 60 s of wall time)."""


async def replay(store: Store, observations: list[Observation]) -> tuple[float, float, int, Linker]:
    """Replays through `Linker.observe` (what `Engine.observe` spends on linking): seconds on
    the request path, seconds re-clustering (background work, timed apart), re-clusterings."""
    config = LinkingConfig(recluster_interval=float("inf"))
    engine = Linker(store, config)
    await store.start()
    spent = background = 0.0
    reclusters = 0
    next_recluster = observations[0].ts + RECLUSTER_EVERY
    for obs in observations:
        t0 = time.perf_counter()
        await engine.observe(obs)
        spent += time.perf_counter() - t0
        if obs.ts >= next_recluster:
            next_recluster = obs.ts + RECLUSTER_EVERY
            t0 = time.perf_counter()
            await engine.recluster(obs.ts)
            background += time.perf_counter() - t0
            reclusters += 1
        if len(engine.pending) >= 256:  # the engine writes links in the background
            t0 = time.perf_counter()
            await engine.flush()
            background += time.perf_counter() - t0
    await engine.recluster(observations[-1].ts)
    return spent, background, reclusters, engine


def quality(clusters: dict[str, str], labels_of: dict[str, dict[str, Any]]) -> None:
    def label(account: str) -> str:
        info = labels_of[account]
        return str(info["actor"] if info["attack"] else "legit:" + info["population"])

    members: dict[str, list[str]] = defaultdict(list)
    for account, cid in clusters.items():
        members[cid].append(account)
    pure = sum(Counter(label(a) for a in m).most_common(1)[0][1] for m in members.values())
    clustered = len(clusters)
    print(f"\nclusters: {len(members)} holding {clustered} of {len(labels_of)} accounts")
    if clustered:
        print(
            f"cluster purity (majority label share of clustered accounts): {pure / clustered:.3f}"
        )
    print(f"{'attack actor':<14}{'accounts':>9}{'clusters':>9}{'in largest':>11}{'coverage':>9}")
    by_actor: dict[str, list[str]] = defaultdict(list)
    for account, info in labels_of.items():
        if info["attack"]:
            by_actor[info["actor"]].append(account)
    for actor, accounts in sorted(by_actor.items()):
        held = Counter(clusters.get(a, a) for a in accounts)
        largest = held.most_common(1)[0][1]
        share = largest / len(accounts)
        print(f"{actor:<14}{len(accounts):>9}{len(held):>9}{largest:>11}{share:>9.2f}")
    merged: Counter[str] = Counter()
    for account, cid in clusters.items():
        info = labels_of[account]
        if not info["attack"] and any(labels_of[b]["attack"] for b in members[cid]):
            merged[info["population"]] += 1
    legit = Counter(info["population"] for info in labels_of.values() if not info["attack"])
    print("legit accounts merged with an attack account, by population:")
    for population, total in sorted(legit.items()):
        print(f"  {population:<18}{merged[population]:>4} of {total}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    records, labels = load(args.scale, args.days, args.seed)
    observer = Observer(SETTINGS)
    observations = [observer.observe(*r) for r in records]  # warm caches
    observer = Observer(SETTINGS)
    t0 = time.perf_counter()
    observations = [observer.observe(*r) for r in records]
    signals_us = (time.perf_counter() - t0) / len(records) * 1e6
    labels_of = {}
    for obs, info in zip(observations, labels, strict=True):
        labels_of[obs.account] = info
    n = len(observations)
    print(
        f"{n} simulated requests, {len(labels_of)} accounts (scale {args.scale}, "
        f"{args.days} days, seed {args.seed})\n"
    )
    print(f"{'per request':<34}{'µs':>8}")
    print(f"{'signals (Observer.observe)':<34}{signals_us:>8.1f}")

    memory = MemoryStore(LinkingConfig().limits)
    spent, background, reclusters, _ = await replay(memory, observations)
    memory_us = spent / n * 1e6
    print(f"{'linking, memory (Linker.observe)':<34}{memory_us:>8.1f}")
    print(f"{'signals + linking, memory':<34}{signals_us + memory_us:>8.1f}")
    recluster_ms = background / max(1, reclusters) * 1e3
    clusters = await memory.clusters()

    if not args.no_redis:
        server = RedisServer()
        server.start()  # waits until it answers PING
        try:
            client = Redis(port=server.port)
            redis_store = RedisStore(client, LinkingConfig().limits)
            spent, background, reclusters, _ = await replay(redis_store, observations)
            trips = redis_store.round_trips
            redis_us = spent / n * 1e6
            print(f"{'linking, Redis (Linker.observe)':<34}{redis_us:>8.1f}")
            print(f"{'signals + linking, Redis':<34}{signals_us + redis_us:>8.1f}")
            print(
                f"\nRedis round trips per request: 1 on the request path (one Lua call); "
                f"{(trips - n) / n:.3f} more per request in the background (link writes, "
                f"{reclusters + 1} re-clusterings, {(trips - n) / (reclusters + 1):.1f} each)"
            )
            stats = await client.info("commandstats")
            lua = stats.get("cmdstat_evalsha", {})
            print(
                f"Redis server time per request (Lua touch): {lua.get('usec_per_call', 0):.1f} µs"
            )
            print(f"re-clustering, Redis: {background / max(1, reclusters) * 1e3:.1f} ms each")
            same = await redis_store.clusters() == clusters
            print(f"Redis clusters identical to memory: {same}")
            info = await client.info("memory")
            print(
                f"Redis used memory: {info['used_memory'] / 1e6:.1f} MB for "
                f"{len(labels_of)} accounts"
            )
            await redis_store.close()
        finally:
            server.stop()
    print(f"re-clustering, memory: {recluster_ms:.1f} ms each")
    quality(clusters, labels_of)


if __name__ == "__main__":
    asyncio.run(main())
