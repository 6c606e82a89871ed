"""What this replica has seen lately, per account and per cluster, for the admin API.

The store knows who is linked to whom (shared by replicas); it does not keep scores, reasons or
a request history, and the request path must not pay for writing them to Redis. So each replica
keeps a bounded record of the verdicts it handed out: the last few requests of each account and
a per-minute score history of each cluster. Memory is bounded by `max_accounts` and
`max_clusters` (least recently seen forgotten first); nothing here holds a raw key or prompt.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from guardgate.model import Decision, Observation, Tier, Verdict
from guardgate.records import record

_BUCKET = 60.0
"""Seconds per point of a cluster's score history."""
_SEVERITY = {Tier.TRUSTED: 0, Tier.NORMAL: 1, Tier.SUSPECT: 2, Tier.EXTRACTOR: 3, Tier.BLOCKED: 4}

_OVERRIDE_REASON = "operator override on "
"""How `Overrides.apply` starts the reason it puts first in a verdict it overrode."""
_FLAGGED = frozenset({Tier.SUSPECT, Tier.EXTRACTOR})


def engine_reasons(reasons: tuple[str, ...]) -> tuple[str, ...]:
    """A verdict's reasons without the operator override's (the engine's own words)."""
    if reasons and reasons[0].startswith(_OVERRIDE_REASON):
        return reasons[1:]
    return reasons


def flagged(entry: AccountActivity) -> bool:
    """Whether an account is one an operator should see: the engine classes it suspect or
    extractor, or an operator blocked it."""
    return entry.engine_tier in _FLAGGED or entry.tier is Tier.BLOCKED


@record
class RequestRecord:
    """One request as the admin API shows it (no prompt, no key)."""

    ts: float
    api: str
    model: str
    tier: Tier
    score: float
    actions: tuple[str, ...]
    ip_prefix: str


@record
class ScorePoint:
    """A cluster's highest score and its request count in one minute."""

    ts: float
    score: float
    requests: int


@dataclass(slots=True)
class AccountActivity:
    """The latest verdict on an account and its last requests (mutable; owned by the log)."""

    cluster: str
    tier: Tier
    """The tier in force on the last request (an operator override included)."""
    engine_tier: Tier
    """The engine's own tier on the last request."""
    score: float
    reasons: tuple[str, ...]
    first_seen: float
    last_seen: float
    requests: int = 0
    recent: deque[RequestRecord] = field(default_factory=deque)


@dataclass(slots=True)
class ClusterActivity:
    """The latest verdict on a cluster, the accounts seen in it and its score history."""

    tier: Tier
    """The most severe of its members' latest tiers from the engine (before overrides)."""
    score: float
    """The highest score of the cluster's requests in the latest minute."""
    reasons: tuple[str, ...]
    size: int
    first_seen: float
    last_seen: float
    requests: int = 0
    accounts: OrderedDict[str, Tier] = field(default_factory=OrderedDict)
    """Members seen, least recently first, with the engine's latest tier on each."""
    history: deque[ScorePoint] = field(default_factory=deque)


def cluster_from_members(members: Collection[AccountActivity], size: int) -> ClusterActivity | None:
    """A cluster's entry made from its members' own, for a cluster this replica has served no
    request under its current id (re-clustering gives merged or split clusters new ids, and a
    member's next request is what records it under the new one). Its score and reasons are those
    of its highest-scoring member, its tier the most severe of theirs; no score history."""
    if not members:
        return None
    top = max(members, key=lambda e: e.score)
    return ClusterActivity(
        max((e.engine_tier for e in members), key=_SEVERITY.__getitem__),
        top.score,
        engine_reasons(top.reasons),
        size,
        min(e.first_seen for e in members),
        max(e.last_seen for e in members),
        sum(e.requests for e in members),
    )


class ActivityLog:
    """Bounded, per-replica memory of recent verdicts; `record` costs a few dict operations."""

    def __init__(
        self,
        *,
        max_accounts: int = 20_000,
        max_clusters: int = 2_000,
        recent_per_account: int = 20,
        history_points: int = 180,
        accounts_per_cluster: int = 500,
    ) -> None:
        self.max_accounts = max_accounts
        self.max_clusters = max_clusters
        self.recent_per_account = recent_per_account
        self.history_points = history_points
        self.accounts_per_cluster = accounts_per_cluster
        self.accounts: OrderedDict[str, AccountActivity] = OrderedDict()
        self.clusters: OrderedDict[str, ClusterActivity] = OrderedDict()

    def cluster_entries(
        self, clusters: Collection[str] | None = None
    ) -> dict[str, ClusterActivity]:
        """The given clusters' entries (those known); all of them, without their member lists,
        when none are given (what a list of clusters shows)."""
        if clusters is None:
            return {c: replace(e, accounts=OrderedDict()) for c, e in self.clusters.items()}
        return {c: self.clusters[c] for c in clusters if c in self.clusters}

    def account_entries(
        self, accounts: Collection[str] | None = None
    ) -> dict[str, AccountActivity]:
        """The given accounts' entries (those known); when none are given, the flagged ones
        (`flagged`), without their recent requests."""
        if accounts is None:
            return {a: replace(e, recent=deque()) for a, e in self.accounts.items() if flagged(e)}
        return {a: self.accounts[a] for a in accounts if a in self.accounts}

    def record(self, obs: Observation, decision: Decision, *, engine_tier: Tier) -> None:
        """Remember the decision on one request (its verdict's tier is the one in force) and the
        tier the engine gave before any operator override."""
        verdict = decision.verdict
        if not verdict.account:
            return  # a fail-open decision carries no verdict worth showing
        ts = obs.ts
        self._record_account(verdict, obs, decision, ts, engine_tier)
        if verdict.cluster and verdict.cluster != verdict.account:
            self._record_cluster(verdict, ts, engine_tier)

    def _record_account(
        self, verdict: Verdict, obs: Observation, decision: Decision, ts: float, engine_tier: Tier
    ) -> None:
        accounts = self.accounts
        entry = accounts.get(verdict.account)
        if entry is None:
            entry = AccountActivity(
                verdict.cluster, verdict.tier, engine_tier, verdict.score, verdict.reasons, ts, ts
            )
            accounts[verdict.account] = entry
            if len(accounts) > self.max_accounts:
                accounts.popitem(last=False)
        else:
            accounts.move_to_end(verdict.account)
            entry.cluster = verdict.cluster
            entry.tier = verdict.tier
            entry.engine_tier = engine_tier
            entry.score = verdict.score
            entry.reasons = verdict.reasons
            entry.last_seen = max(entry.last_seen, ts)
        entry.requests += 1
        entry.recent.append(
            RequestRecord(
                ts,
                obs.api.value,
                obs.model,
                verdict.tier,
                verdict.score,
                decision.actions,
                obs.ip_prefix,
            )
        )
        if len(entry.recent) > self.recent_per_account:
            entry.recent.popleft()

    def _record_cluster(self, verdict: Verdict, ts: float, engine_tier: Tier) -> None:
        clusters = self.clusters
        entry = clusters.get(verdict.cluster)
        if entry is None:
            entry = ClusterActivity(
                engine_tier,
                verdict.score,
                engine_reasons(verdict.reasons),
                verdict.cluster_size,
                ts,
                ts,
            )
            clusters[verdict.cluster] = entry
            if len(clusters) > self.max_clusters:
                clusters.popitem(last=False)
        else:
            clusters.move_to_end(verdict.cluster)
            entry.size = verdict.cluster_size
            entry.last_seen = max(entry.last_seen, ts)
        entry.requests += 1
        members = entry.accounts
        members[verdict.account] = engine_tier
        members.move_to_end(verdict.account)
        if len(members) > self.accounts_per_cluster:
            members.popitem(last=False)
        entry.tier = max(members.values(), key=_SEVERITY.__getitem__)
        bucket = ts - ts % _BUCKET
        history = entry.history
        if history and history[-1].ts == bucket:
            last = history[-1]
            top = verdict.score >= last.score
            history[-1] = ScorePoint(bucket, max(last.score, verdict.score), last.requests + 1)
        else:
            top = True
            history.append(ScorePoint(bucket, verdict.score, 1))
            if len(history) > self.history_points:
                history.popleft()
        entry.score = history[-1].score
        # The cluster's reasons are those of the request that sets its score (a lifted member's
        # name the cluster's pooled score and its terms), never an operator's override on one
        # member: the latest member's words would make the cluster say whatever it last did.
        own = engine_reasons(verdict.reasons)
        if top and own:
            entry.reasons = own
