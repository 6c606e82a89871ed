"""Linking alone on small simulated worlds: per farm, how many of its accounts are clustered,
how many sit in its largest cluster, and which legitimate populations share a cluster with it.

    python benchmarks/bench_cluster_mix.py [--seeds 1 2 3] [--scale 0.3] [--days 2]
        [--set crowd_accounts=0 ...]

The fast loop for choosing linking thresholds (seconds per seed, no scoring, no replay): pick
them on the tuning seeds (`guardgate.simulate.config.TUNING_SEEDS`) and report the test seeds.
`--set` overrides `LinkingConfig` fields, so one run can put the defaults beside an alternative.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import fields
from typing import Any

from bench_linking import load

from guardgate.linking import Linker, LinkingConfig
from guardgate.model import Observation
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.store import MemoryStore


def world(seed: int, scale: float, days: float) -> tuple[list[Observation], dict[str, Any]]:
    """The observations of one simulated world, in time order, and each account's label."""
    records, labels = load(scale, days, seed)
    observer = Observer(GuardgateSettings(secret="sim"))
    observations = [observer.observe(*record) for record in records]
    return observations, {
        obs.account: label for obs, label in zip(observations, labels, strict=True)
    }


async def clusters(observations: list[Observation], config: LinkingConfig) -> dict[str, str]:
    """Account -> cluster after linking every observation (re-clustering as the engine does)."""
    linker = Linker(MemoryStore(config.limits), config)
    for obs in observations:
        await linker.observe(obs)
        if linker.due(obs.ts):
            await linker.recluster(obs.ts)
    await linker.recluster(observations[-1].ts)
    return await linker.store.clusters()


def table(assignment: dict[str, str], label_of: dict[str, Any]) -> list[str]:
    """One Markdown row per farm."""
    members: dict[str, list[str]] = defaultdict(list)
    for account, cid in assignment.items():
        members[cid].append(account)
    rows = []
    farms = sorted({info["population"] for info in label_of.values() if info["attack"]})
    for farm in farms:
        accounts = [a for a, info in label_of.items() if info["population"] == farm]
        clustered = [a for a in accounts if a in assignment]
        held = Counter(assignment[a] for a in clustered)
        largest = held.most_common(1)[0][1] if held else 0
        legit: Counter[str] = Counter()
        for cid in held:
            legit.update(
                label_of[b]["population"] for b in members[cid] if not label_of[b]["attack"]
            )
        mixed = ", ".join(f"{p} {n}" for p, n in legit.most_common()) or "none"
        rows.append(f"| {farm} | {len(accounts)} | {len(clustered)} | {largest} | {mixed} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    types = {f.name: type(getattr(LinkingConfig(), f.name)) for f in fields(LinkingConfig)}
    overrides: dict[str, Any] = {}
    for item in args.set:
        name, value = item.split("=", 1)
        overrides[name] = types[name](float(value)) if types[name] is not bool else value == "1"
    config = LinkingConfig(**overrides)
    print(f"LinkingConfig overrides: {overrides or 'none'}; scale {args.scale}, {args.days} days")
    for seed in args.seeds:
        observations, label_of = world(seed, args.scale, args.days)
        t0 = time.process_time()
        assignment = asyncio.run(clusters(observations, config))
        cpu = time.process_time() - t0
        print(f"\nseed {seed}: {len(observations)} requests, {len(label_of)} accounts,", end=" ")
        print(f"linking {cpu:.1f} s CPU")
        print("| farm | accounts | clustered | in its largest cluster |", end=" ")
        print("legitimate accounts sharing its clusters |")
        print("|---|---|---|---|---|")
        print("\n".join(table(assignment, label_of)))


if __name__ == "__main__":
    main()
