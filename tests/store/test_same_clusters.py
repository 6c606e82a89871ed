"""The simulator's traffic through linking on memory, Redis and a 3-node Redis Cluster: every
request's cluster, size and links, and the final clusters, are identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guardgate.linking import Linker, LinkingConfig
from guardgate.model import Observation
from guardgate.protocols.endpoints import api_for_path
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.runner import simulate
from guardgate.store import MemoryStore, Store, StoreLimits

from .conftest import StoreFactory

SETTINGS = GuardgateSettings(secret="same-clusters")
# Re-cluster at fixed points of the replay only, so that all backends do the same work.
CONFIG = LinkingConfig(recluster_interval=float("inf"))


@pytest.fixture(scope="module")
def observations(tmp_path_factory: pytest.TempPathFactory) -> list[Observation]:
    out = tmp_path_factory.mktemp("sim")
    traffic, labels = out / "t.jsonl", out / "l.jsonl"
    simulate(SimulationConfig(days=1.0, scale=0.05, seed=5), traffic, labels)
    observer = Observer(SETTINGS)
    result = []
    for line in Path(traffic).read_text().splitlines():
        record: dict[str, Any] = json.loads(line)
        api = api_for_path(record["path"], "")
        assert api is not None
        headers = [(k.lower().encode(), str(v).encode()) for k, v in record["headers"].items()]
        result.append(observer.observe(api, headers, record["ip"], record["body"], record["ts"]))
    return result


async def _replay(store: Store, observations: list[Observation]) -> tuple[list[Any], Any]:
    linker = Linker(store, CONFIG)
    await store.start()
    memberships = []
    for i, obs in enumerate(observations):
        member = await linker.observe(obs)
        memberships.append((member.cluster, member.size, [e.other for e in member.linked]))
        if i % 400 == 399:
            await linker.recluster(obs.ts)
    await linker.recluster(observations[-1].ts)
    clusters = await store.clusters()
    await store.close()
    return memberships, clusters


async def test_same_links_and_clusters_on_every_backend(
    make_store: StoreFactory, observations: list[Observation]
) -> None:
    expected = await _replay(MemoryStore(CONFIG.limits), observations)
    got = await _replay(make_store(CONFIG.limits), observations)
    assert len(set(expected[1].values())) >= 2  # the traffic does form clusters
    assert got == expected


def test_limits_follow_the_config() -> None:
    assert CONFIG.limits == StoreLimits(
        window=CONFIG.window,
        posting_cap=CONFIG.posting_cap,
        sample=CONFIG.sample,
        values_per_account=CONFIG.values_per_account,
        link_ttl=CONFIG.link_ttl,
        links_per_account=CONFIG.links_per_account,
    )
