"""The activity record behind the admin API: a cluster's reasons and the flagged accounts."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from guardgate.activity import AccountActivity, ActivityLog, ClusterActivity, cluster_from_members
from guardgate.admin.views import top_clusters
from guardgate.model import ApiKind, Decision, Observation, Tier, Verdict
from guardgate.overrides import MemoryOverrideBackend, OverrideBook

T0 = 1_800_000_000.0


def _record(
    log: ActivityLog,
    account: str,
    ts: float,
    score: float,
    tier: Tier,
    reasons: tuple[str, ...],
    *,
    cluster: str = "c-farm",
    engine_tier: Tier | None = None,
) -> None:
    obs = Observation(ts=ts, api=ApiKind.OPENAI_CHAT, account=account, client_ip="", ip_prefix="")
    verdict = Verdict(account, cluster, score, tier, reasons, cluster_size=3)
    log.record(obs, Decision(verdict), engine_tier=engine_tier or tier)


def test_a_cluster_says_why_its_top_request_scored_not_what_its_latest_member_was_told() -> None:
    log = ActivityLog()
    _record(log, "a", T0, 0.9, Tier.EXTRACTOR, ("asks for written-out reasoning (+2.0)",))
    # A later, lower-scoring request of another member, and one an operator override decided.
    _record(log, "b", T0 + 5, 0.3, Tier.NORMAL, ("sends no system prompt (+0.4)",))
    _record(
        log,
        "c",
        T0 + 9,
        0.2,
        Tier.TRUSTED,
        ("operator override on account: trusted", "sends no system prompt (+0.3)"),
        engine_tier=Tier.NORMAL,
    )
    entry = log.cluster_entries()["c-farm"]
    assert entry.reasons == ("asks for written-out reasoning (+2.0)",)
    assert entry.score == 0.9 and entry.tier is Tier.EXTRACTOR
    # A new minute: its top request speaks for the cluster, without the override's words.
    _record(
        log,
        "c",
        T0 + 70,
        0.5,
        Tier.TRUSTED,
        ("operator override on account: trusted", "linked to a cluster of 3 accounts"),
        engine_tier=Tier.SUSPECT,
    )
    assert log.cluster_entries()["c-farm"].reasons == ("linked to a cluster of 3 accounts",)


def test_flagged_accounts_are_the_engines_suspects_and_extractors_and_the_blocked() -> None:
    log = ActivityLog()
    _record(log, "lone", T0, 0.96, Tier.EXTRACTOR, ("harvests",), cluster="lone")
    _record(log, "member", T0 + 1, 0.6, Tier.SUSPECT, ("linked",))
    _record(log, "quiet", T0 + 2, 0.01, Tier.NORMAL, ())
    _record(log, "vip", T0 + 3, 0.97, Tier.TRUSTED, (), engine_tier=Tier.EXTRACTOR)
    _record(log, "banned", T0 + 4, 0.05, Tier.BLOCKED, (), engine_tier=Tier.NORMAL)
    flagged = log.account_entries(None)
    assert set(flagged) == {"lone", "member", "vip", "banned"}
    assert all(not entry.recent for entry in flagged.values())
    assert log.account_entries(["quiet"])["quiet"].requests == 1


class _RenamedDetection:
    """Detection whose store has re-clustered: accounts a and b now form `c-new`, a cluster this
    replica recorded no request under (its members were served as `c-farm`)."""

    def __init__(self, log: ActivityLog) -> None:
        self.log = log

    async def clusters(self) -> dict[str, str]:
        return {"a": "c-new", "b": "c-new", "z": "c-quiet", "y": "c-quiet"}

    async def cluster_activity(self, clusters: object = None) -> dict[str, ClusterActivity]:
        return {}

    async def account_activity(self, accounts: object = None) -> dict[str, AccountActivity]:
        return self.log.account_entries(accounts)  # type: ignore[arg-type]


def test_a_renamed_cluster_is_listed_with_its_members_records_until_it_is_served() -> None:
    log = ActivityLog()
    _record(log, "a", T0, 0.95, Tier.EXTRACTOR, ("sends prompts never seen before (+3.0)",))
    _record(log, "b", T0 + 5, 0.4, Tier.NORMAL, ("asks for long answers (+1.0)",))
    deployment = SimpleNamespace(
        detection=_RenamedDetection(log),
        overrides=OverrideBook(MemoryOverrideBackend()),
        clock=lambda: T0 + 60,
    )
    listed = asyncio.run(top_clusters(deployment, 10))  # type: ignore[arg-type]
    # c-quiet's members were never served here: nothing to show. c-new speaks with its members.
    assert [c.cluster for c in listed] == ["c-new"]
    summary = listed[0]
    assert summary.size == 2 and summary.requests == 2
    assert summary.score == 0.95 and summary.engine_tier == "extractor"
    assert summary.reasons == ("sends prompts never seen before (+3.0)",)
    assert summary.first_seen == T0 and summary.last_seen == T0 + 5


def test_cluster_from_members_is_none_without_members() -> None:
    assert cluster_from_members([], 3) is None
