"""The engine's verdicts carry the cluster found by linking."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from guardgate.engine import Engine
from guardgate.linking import LinkingConfig
from guardgate.settings import GuardgateSettings

from .traffic import generate


async def test_verdicts_name_the_farm_cluster_once_reclustered() -> None:
    engine = Engine(GuardgateSettings(secret="s"), config=LinkingConfig(recluster_interval=600))
    await engine.start()
    requests = generate(seed=3)
    verdicts = {}
    for request in requests:
        verdict = await engine.observe(request.obs)
        verdicts[request.obs.account] = (request.actor, verdict)
        await asyncio.sleep(0)  # a server yields between requests; background work runs then
    # Background re-clustering ran on request time, without being asked.
    assert {v.cluster_size for actor, v in verdicts.values() if actor == "farm"} == {12}
    await engine.recluster(requests[-1].obs.ts)
    last = {}
    for request in requests[-200:]:
        last[request.obs.account] = (request.actor, await engine.observe(request.obs))
    farm = {v.cluster for actor, v in last.values() if actor == "farm"}
    assert len(farm) == 1
    (cluster,) = farm
    sizes = {v.cluster_size for actor, v in last.values() if actor == "farm"}
    assert sizes == {12}
    users = [v for actor, v in last.values() if actor == "user"]
    assert users and all(v.cluster == v.account and v.cluster_size == 1 for v in users)
    assert all(v.cluster != cluster for actor, v in last.values() if actor != "farm")
    assert engine.background_failures == 0
    await engine.close()


async def test_anonymous_requests_are_not_linked() -> None:
    engine = Engine(GuardgateSettings(secret="s"))
    obs = generate()[0].obs
    verdict = await engine.observe(replace(obs, account="anonymous"))
    assert (verdict.cluster, verdict.cluster_size) == ("anonymous", 1)
    await engine.close()
