"""Linking on the project's simulated traffic: farms end in few clusters, and crowds that share
a network, an app or a wording (a corporate NAT, classes, an office tool, a carrier NAT, a gateway
key) are not merged with a farm, nor is a popular agent's crowd with the farm posing as that
agent. That no hard negative at all is merged does not hold yet on the new world: a strict
xfail names the gap."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

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


def _merged(
    clusters: dict[str, str], label_of: dict[str, dict[str, Any]], farms: set[str]
) -> Counter[str]:
    """Legitimate accounts sharing a cluster with an account of one of `farms`, by population."""
    members: dict[str, list[str]] = defaultdict(list)
    for account, cid in clusters.items():
        members[cid].append(account)
    merged: Counter[str] = Counter()
    for account, info in label_of.items():
        together = members.get(clusters.get(account, ""), [])
        if not info["attack"] and any(label_of[b]["population"] in farms for b in together):
            merged[info["population"]] += 1
    return merged


Clusters = tuple[dict[str, str], dict[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def seed_1(tmp_path_factory: pytest.TempPathFactory) -> Clusters:
    """The clusters of seed 1's world, linked once for the tests that read them (neither changes
    them)."""
    return asyncio.run(_clusters(tmp_path_factory.mktemp("linked"), 1))


_CROWDS = {
    "corporate_nat",
    "university_class",
    "campus_classes",
    "office_tool",
    "carrier_crowd",
    "gateway_key",
}
"""Coordination without harvest: one network, one app, one wording; never one actor."""


def test_farms_are_found_and_crowds_stay_apart(seed_1: Clusters) -> None:
    clusters, label_of = seed_1
    hydra = [a for a, info in label_of.items() if info["population"] == "hydra_farm"]
    held = Counter(clusters.get(a, a) for a in hydra)
    # 47 of 60 on this world (49 before the agent teams joined it: two of the `headers`
    # accounts, a popular SDK build on a laptop, now pair off on their own).
    assert held.most_common(1)[0][1] >= 0.75 * len(hydra), held
    farms = {i["population"] for i in label_of.values() if i["attack"]}
    merged = _merged(clusters, label_of, farms)
    assert not set(merged) & _CROWDS, merged
    # The popular agent's users share its prompt, tools, builds and kind of work with the farm
    # posing as it: none of that links them.
    assert not set(merged) & {"agent_crowd", "coding_agent"}, merged


@pytest.mark.xfail(
    strict=True,
    reason="known gap (issue 17): the farm posing as the coding agent no longer shares a cluster "
    "with the agent's crowd (LinkingConfig.crowd_accounts), and public prompts no longer link "
    "(reasoning power users in farm clusters 5 -> 2), but a few casual and reasoning power users, "
    "a SaaS back end and a chat app (whose system prompt a farm's `system` variant copies) still "
    "join farm clusters",
)
def test_no_hard_negative_shares_a_cluster_with_a_farm(seed_1: Clusters) -> None:
    clusters, label_of = seed_1
    farms = {i["population"] for i in label_of.values() if i["attack"]}
    merged = _merged(clusters, label_of, farms)
    casual = sum(1 for info in label_of.values() if info["population"] == "casual")
    assert set(merged) <= {"casual"}, merged
    assert merged["casual"] <= 0.01 * casual, merged
