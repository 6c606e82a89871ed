"""Incremental re-clustering gives the clusters a rebuild from all live links gives."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from guardgate.linking import Linker, LinkingConfig, assign, components
from guardgate.linking.clusters import supported
from guardgate.linking.graph import LinkGraph
from guardgate.store import Link, MemoryStore

T0 = 1_800_000_000.0


def _rebuild(graph: LinkGraph, min_similarity: float) -> list[list[str]]:
    return components([Link(a, b, t) for (a, b), t in graph.ts.items()], min_similarity)


def _degrees(graph: LinkGraph, min_similarity: float) -> dict[str, int]:
    """Each account's supported links, counted from a rebuild."""
    links = supported([Link(a, b, t) for (a, b), t in graph.ts.items()], min_similarity)
    counts: dict[str, int] = {}
    for link in links:
        for end in (link.a, link.b):
            counts[end] = counts.get(end, 0) + 1
    return counts


@pytest.mark.parametrize("min_similarity", [0.0, 0.4])
@pytest.mark.parametrize("seed", range(6))
def test_link_graph_components_match_a_rebuild(seed: int, min_similarity: float) -> None:
    rng = random.Random(seed)
    accounts = [f"a{i:02d}" for i in range(40)]
    graph = LinkGraph(min_similarity)
    now = T0
    for _ in range(60):
        now += rng.uniform(0, 30)
        changes: dict[tuple[str, str], float] = {}
        for _ in range(rng.randint(0, 12)):
            a, b = sorted(rng.sample(accounts, 2))
            # Mostly new or refreshed links, some forgotten ones (a time before `since`).
            changes[(a, b)] = now if rng.random() < 0.8 else float("-inf")
        graph.update(changes, now - 300)
        assert graph.groups() == _rebuild(graph, min_similarity)
        assert graph.degrees() == _degrees(graph, min_similarity)
        assert all(t >= now - 300 for t in graph.ts.values())


async def test_linker_clusters_match_a_rebuild_after_each_run() -> None:
    rng = random.Random(7)
    config = LinkingConfig(link_ttl=400.0, links_per_account=6)
    store = MemoryStore(config.limits)
    linker = Linker(store, config)
    accounts = [f"a{i:02d}" for i in range(60)]
    expected: dict[str, str] = {}
    most = 0
    now = T0
    for _ in range(80):
        now += rng.uniform(0, 40)
        # Dense little groups (actors), and now and then a stray link between two of them.
        for _ in range(rng.randint(0, 15)):
            group = rng.randrange(8)
            a, b = rng.sample(accounts[group * 7 : group * 7 + 7], 2)
            if rng.random() < 0.1:
                b = rng.choice(accounts)
            if a != b:
                linker.pending.append(Link(min(a, b), max(a, b), now))
        result = await linker.recluster(now)
        assert result is not None
        live = await store.links(now - config.link_ttl)
        expected = assign(components(live, config.min_link_support), expected)
        assert await store.clusters() == expected
        assert result.links == len(live)
        assert result.clustered_accounts == len(expected)
        most = max(most, len(set(expected.values())))
    assert most >= 5


async def test_clusters_written_by_another_replica_are_taken_over() -> None:
    config = LinkingConfig(min_link_support=0.0)
    store = MemoryStore(config.limits)
    one, two = Linker(store, config), Linker(store, config)
    one.pending.append(Link("a", "b", T0))
    await one.recluster(T0)
    first = await store.clusters()
    two.pending.append(Link("b", "c", T0 + 1))
    await two.recluster(T0 + 1)
    assert await store.clusters() == dict.fromkeys("abc", first["a"])
    one.pending.append(Link("x", "y", T0 + 2))
    await one.recluster(T0 + 2)
    clusters = await store.clusters()
    assert clusters["c"] == clusters["a"] == first["a"] and clusters["x"] == clusters["y"]


class _FlakyStore(MemoryStore):
    """Fails the next cluster write, as a Redis outage would."""

    fail = False

    async def replace_clusters(self, assignment: Mapping[str, str]) -> None:
        if self.fail:
            self.fail = False
            raise ConnectionError("redis went away")
        await super().replace_clusters(assignment)


async def test_a_failed_cluster_write_is_made_good_by_the_next_run() -> None:
    config = LinkingConfig(min_link_support=0.0)
    store = _FlakyStore(config.limits)
    linker = Linker(store, config)
    linker.pending.append(Link("a", "b", T0))
    store.fail = True
    with pytest.raises(ConnectionError):
        await linker.recluster(T0)
    assert await store.clusters() == {}
    await linker.recluster(T0 + 60)  # nothing new: the clusters still have to be written
    clusters = await store.clusters()
    assert set(clusters) == {"a", "b"} and clusters["a"] == clusters["b"]
