"""Admin API lookups on a sidecar that served a simulated attack: top clusters, a cluster with
its members and links, an account with its recent requests; never a raw key."""

from __future__ import annotations

from tests.admin.admin_client import admin
from tests.admin.attack_traffic import Simulated


def test_top_clusters_and_cluster_detail(attacked: tuple[str, Simulated]) -> None:
    url, sim = attacked
    farm = sim.members_of("hydra_farm")
    with admin(url) as ops:
        listed = ops.get("clusters").json()["clusters"]
        assert listed, "no clusters after a simulated attack"
        assert len(ops.get("clusters", params={"limit": 1}).json()["clusters"]) == 1
        assert ops.get("clusters", params={"limit": "x"}).status_code == 400
        ranked = [(c["score"], c["size"]) for c in listed]
        assert ranked == sorted(ranked, reverse=True)

        details = [ops.get(f"clusters/{c['cluster']}").json() for c in listed]
        biggest_farm = max(details, key=lambda d: len({m["account"] for m in d["members"]} & farm))
        members = {m["account"] for m in biggest_farm["members"]}
        summary = biggest_farm["summary"]
        assert summary["size"] == len(members)
        assert len(members & farm) >= len(farm) // 2
        # Every edge joins two members; the graph is connected.
        seen = {biggest_farm["members"][0]["account"]}
        edges = [(e["a"], e["b"]) for e in biggest_farm["edges"]]
        assert all(a in members and b in members for a, b in edges)
        for _ in members:
            seen |= {b for a, b in edges if a in seen} | {a for a, b in edges if b in seen}
        assert seen == members
        # This replica served the cluster after re-clustering: it has a history.
        assert summary["requests"] > 0
        assert summary["history"][-1]["requests"] > 0
        assert ops.get("clusters/c-does-not-exist").status_code == 404


def test_account_detail(attacked: tuple[str, Simulated]) -> None:
    url, sim = attacked
    with admin(url) as ops:
        listed = ops.get("clusters").json()["clusters"]
        cluster = next(c for c in listed if c["requests"] > 0)
        detail = ops.get(f"clusters/{cluster['cluster']}").json()
        member = max(detail["members"], key=lambda m: m["requests"])
        account = ops.get(f"accounts/{member['account']}").json()
        assert account["cluster"] == cluster["cluster"]
        assert account["cluster_size"] == cluster["size"]
        assert account["requests"] == member["requests"] > 0
        assert 0 < len(account["recent"]) <= 20
        assert account["recent"][0]["ts"] >= account["recent"][-1]["ts"]
        assert account["recent"][0]["api"] in (
            "openai_chat",
            "openai_responses",
            "anthropic_messages",
            "openai_completions",
        )
        assert account["linked"], "a cluster member has links"
        assert account["tier"] == account["engine_tier"]
        assert ops.get("accounts/0123456789abcdef01234567").status_code == 404

        # Looking an account up by its key hashes the key and keeps nothing of it.
        key = next(iter(sim.keys))
        found = ops.post("accounts/lookup", json={"api_key": key})
        assert found.status_code == 200
        assert sim.population[found.json()["account"]]
        assert ops.post("accounts/lookup", json={}).status_code == 400

        everything = (
            ops.get("clusters").text
            + "".join(ops.get(f"clusters/{c['cluster']}").text for c in listed)
            + ops.get(f"accounts/{member['account']}").text
        )
    for raw in sim.keys:
        assert raw not in everything
