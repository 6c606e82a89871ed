"""Admin API lookups on a sidecar that served a simulated attack: top clusters, a cluster with
its members and links (with their evidence), an account with its recent requests, the flagged
accounts; never a raw key."""

from __future__ import annotations

import json

from tests.admin.admin_client import admin, chat
from tests.admin.attack_traffic import LONE_KEY, Simulated
from tests.gateway import GG_SECRET

from guardgate.signals.account import AccountHasher
from guardgate.simulate import ATTACK_POPULATIONS


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


def _key_of(sim: Simulated, account: str) -> str:
    hasher = AccountHasher(GG_SECRET.encode())
    return next(k for k in sim.keys if hasher.hash(b"k:" + k.encode()) == account)


def test_flagged_accounts_list_a_lone_extractor(attacked: tuple[str, Simulated]) -> None:
    url, sim = attacked
    lone = AccountHasher(GG_SECRET.encode()).hash(b"k:" + LONE_KEY.encode())
    with admin(url) as ops:
        assert ops.get("accounts").status_code == 400
        # Every flagged account (the default page is the 50 highest scores, farm accounts first).
        flagged = ops.get("accounts", params={"flagged": 1, "limit": 1000}).json()["accounts"]
        listed = ops.get("clusters", params={"limit": 1000}).json()["clusters"]
        clustered = {
            m["account"]
            for c in listed
            for m in ops.get(f"clusters/{c['cluster']}").json()["members"]
        }
        assert len(ops.get("accounts", params={"flagged": 1, "limit": 1}).json()["accounts"]) == 1
    scores = [f["score"] for f in flagged]
    assert scores == sorted(scores, reverse=True)
    # The lone extractor is in no cluster, yet it is listed, with its score and the reasons.
    assert lone not in clustered
    (found,) = [f for f in flagged if f["account"] == lone]
    assert found["cluster"] == "" and found["cluster_size"] == 1
    assert found["tier"] == "extractor" and found["score"] >= 0.5
    assert found["reasons"] and found["requests"] == 5
    # Flagged farm accounts are listed too, with their cluster.
    farm = {a for p in ATTACK_POPULATIONS if p != "single_scraper" for a in sim.members_of(p)}
    assert any(f["cluster"] and f["account"] in farm for f in flagged)
    assert all(f["tier"] in ("suspect", "extractor", "blocked") for f in flagged)


def test_links_show_their_evidence_without_raw_values(attacked: tuple[str, Simulated]) -> None:
    url, sim = attacked
    with admin(url) as ops:
        listed = ops.get("clusters").json()["clusters"]
        texts = [ops.get(f"clusters/{c['cluster']}").text for c in listed]
    edges = [e for text in texts for e in json.loads(text)["edges"]]
    assert edges
    for edge in edges:
        assert set(edge["evidence"]) == {"network", "software", "app", "content"}
        assert all(0.0 <= w <= 1.0 for w in edge["evidence"].values())
        # A link needs evidence: at least one kind weighs something.
        assert sum(edge["evidence"].values()) > 0
    ips = {str(line["ip"]) for line in sim.lines}
    assert not any(ip in text for ip in ips for text in texts)


def test_members_and_reasons_agree_with_the_cluster(attacked: tuple[str, Simulated]) -> None:
    url, sim = attacked
    with admin(url) as ops:
        listed = ops.get("clusters", params={"limit": 1000}).json()["clusters"]
        # Clusters this replica saw no request from are not listed.
        assert all(c["requests"] > 0 for c in listed)
        cluster = next(c for c in listed if c["requests"] > 0 and c["size"] >= 3)
        cid = cluster["cluster"]
        members = ops.get(f"clusters/{cid}").json()["members"]
        vip = max(members, key=lambda m: m["requests"])["account"]
        try:
            assert ops.put(f"overrides/cluster/{cid}", json={"tier": "blocked"}).status_code == 200
            assert ops.put(f"overrides/account/{vip}", json={"tier": "trusted"}).status_code == 200
            # The trusted member's request is the cluster's latest.
            assert chat(url, _key_of(sim, vip)).status_code == 200
            detail = ops.get(f"clusters/{cid}").json()
        finally:
            ops.delete(f"overrides/cluster/{cid}")
            ops.delete(f"overrides/account/{vip}")
    summary = detail["summary"]
    assert summary["tier"] == "blocked"
    assert not any(r.startswith("operator override") for r in summary["reasons"])
    assert summary["reasons"]
    for m in detail["members"]:
        if m["account"] == vip:
            assert (m["tier"], m["tier_reason"]) == (
                "trusted",
                "operator override on account: trusted",
            )
        else:
            assert (m["tier"], m["tier_reason"]) == (
                "blocked",
                "operator override on cluster: blocked",
            )
