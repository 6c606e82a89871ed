"""Linking on the project's simulated traffic: farms end in few clusters, and the hard
negatives (a corporate NAT, a university class, users of one public coding tool, casual users on
popular SDKs and carrier NATs) are not merged with a farm."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from guardgate.linking import Linker, LinkingConfig
from guardgate.protocols.endpoints import api_for_path
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.runner import simulate
from guardgate.store import MemoryStore


async def _clusters(tmp_path: Path, seed: int) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    traffic, labels = tmp_path / "t.jsonl", tmp_path / "l.jsonl"
    simulate(SimulationConfig(days=2.0, scale=0.3, seed=seed), traffic, labels)
    observer = Observer(GuardgateSettings(secret="sim"))
    config = LinkingConfig()
    linker = Linker(MemoryStore(config.limits), config)
    label_of: dict[str, dict[str, Any]] = {}
    ts = 0.0
    lines = zip(traffic.read_text().splitlines(), labels.read_text().splitlines(), strict=True)
    for line, label in lines:
        record = json.loads(line)
        api = api_for_path(record["path"], "")
        assert api is not None
        headers = [(k.lower().encode(), str(v).encode()) for k, v in record["headers"].items()]
        obs = observer.observe(api, headers, record["ip"], record["body"], record["ts"])
        label_of[obs.account] = json.loads(label)
        await linker.observe(obs)
        ts = obs.ts
        if linker.due(ts):
            await linker.recluster(ts)
    await linker.recluster(ts)
    return await linker.store.clusters(), label_of


async def test_farms_are_found_and_hard_negatives_stay_apart(tmp_path: Path) -> None:
    for seed in (1,):
        clusters, label_of = await _clusters(tmp_path, seed)
        members: dict[str, list[str]] = defaultdict(list)
        for account, cid in clusters.items():
            members[cid].append(account)
        hydra = [a for a, info in label_of.items() if info["population"] == "hydra_farm"]
        held = Counter(clusters.get(a, a) for a in hydra)
        assert held.most_common(1)[0][1] >= 0.8 * len(hydra), (seed, held)
        merged: Counter[str] = Counter()
        for account, info in label_of.items():
            together = members.get(clusters.get(account, ""), [])
            if not info["attack"] and any(label_of[b]["attack"] for b in together):
                merged[info["population"]] += 1
        casual = sum(1 for info in label_of.values() if info["population"] == "casual")
        assert set(merged) <= {"casual"}, (seed, merged)
        assert merged["casual"] <= 0.01 * casual, (seed, merged)
