"""Linking on generated traffic, pair rules, and bounded work."""

from __future__ import annotations

from collections import defaultdict

from guardgate.linking import Linker, LinkingConfig, PairScorer
from guardgate.store import MemoryStore, Posting, Touch

from .traffic import generate


async def _run(config: LinkingConfig) -> tuple[dict[str, str], dict[str, str]]:
    linker = Linker(MemoryStore(config.limits), config)
    actor_of: dict[str, str] = {}
    last = 0.0
    for request in generate():
        actor_of[request.obs.account] = request.actor
        await linker.observe(request.obs)
        last = request.obs.ts
    await linker.recluster(last)
    return await linker.store.clusters(), actor_of


async def test_farm_is_one_cluster_and_nobody_else_joins_it() -> None:
    clusters, actor_of = await _run(LinkingConfig())
    members: dict[str, set[str]] = defaultdict(set)
    for account, cid in clusters.items():
        members[cid].add(actor_of[account])
    farm_accounts = [a for a, actor in actor_of.items() if actor == "farm"]
    farm_clusters = {clusters.get(a, a) for a in farm_accounts}
    assert len(farm_clusters) == 1, farm_clusters
    (farm_cluster,) = farm_clusters
    assert members[farm_cluster] == {"farm"}
    # Independent users on the same SDK build are linked to nobody; NAT colleagues are never
    # linked to the farm (they may be linked to each other: one office, one internal tool).
    assert not any(actor_of[a] == "user" for a in clusters)


async def test_without_rare_evidence_nothing_is_linked() -> None:
    # Make every value "common": no pair has a rare kind, so no link can form.
    clusters, _ = await _run(LinkingConfig(common_share=0.0))
    assert clusters == {}


def _touch(active: int, postings: list[tuple[str, int, tuple[str, ...]]]) -> Touch:
    return Touch(active, "", 1, tuple(Posting(v, c, m) for v, c, m in postings), {})


def test_rarity_falls_with_share_and_common_values_weigh_nothing() -> None:
    scorer = PairScorer(LinkingConfig(min_population=1000))
    weights = [scorer.rarity(c, 1000) for c in (1, 2, 10, 100, 249, 251, 600)]
    assert weights[0] == 0.0 and weights[1] == 1.0
    assert weights[1] > weights[2] > weights[3] > weights[4] > 0
    assert weights[5] == weights[6] == 0.0


def test_a_shared_nat_and_sdk_alone_link_nobody() -> None:
    scorer = PairScorer(LinkingConfig())
    touch = _touch(
        2000,
        [
            ("ip:198.51.100.10", 40, ("b",)),
            ("net:198.51.100.0/24", 60, ("b",)),
            ("cli:popular", 900, ("b",)),
            ("par:defaults", 700, ("b",)),
        ],
    )
    (evidence,) = scorer.evaluate(touch, linked_only=False)
    assert evidence.kinds == 2 and not evidence.linked
    assert scorer.evaluate(touch) == []


def test_rare_app_and_template_link_even_over_rotating_ips() -> None:
    scorer = PairScorer(LinkingConfig())
    bands = [(f"b:{i}.x", 12, ("b",)) for i in range(4)]
    touch = _touch(2000, [("sys:farm", 12, ("b",)), ("cli:popular", 900, ("b",)), *bands])
    (evidence,) = scorer.evaluate(touch)
    assert evidence.linked and evidence.other == "b" and evidence.rare_kinds == 2


def test_work_per_request_is_bounded() -> None:
    config = LinkingConfig(max_candidates=10)
    scorer = PairScorer(config)
    crowd = tuple(f"acct{i}" for i in range(200))
    touch = _touch(5000, [(f"ip:{i}", 3, crowd[i * 8 : i * 8 + 8]) for i in range(25)])
    assert len(scorer.evaluate(touch, linked_only=False)) == 10
