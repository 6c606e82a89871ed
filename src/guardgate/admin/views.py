"""What the admin API answers: accounts, clusters and their graph, built from the shared store,
the shared overrides and this replica's activity record.

Every id here is an account HMAC or a cluster id; nothing holds a raw key or prompt text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from guardgate.activity import AccountActivity, ClusterActivity, cluster_from_members
from guardgate.linking.evidence import Kind
from guardgate.model import Tier
from guardgate.overrides import Override, OverrideScope
from guardgate.store import Link
from guardgate.store._base import cluster_sizes

if TYPE_CHECKING:
    from guardgate.deployment import Deployment

GRAPH_MEMBERS = 300
"""Most accounts drawn in a cluster's graph (the most recently active first)."""
EVIDENCE_KINDS = tuple(kind.name.lower() for kind in Kind)
"""The kinds of evidence a link's weights are given for, in order."""


@dataclass(frozen=True, slots=True)
class RequestView:
    """One recent request of an account."""

    ts: float
    api: str
    model: str
    tier: str
    score: float
    actions: tuple[str, ...]
    ip_prefix: str


@dataclass(frozen=True, slots=True)
class MemberView:
    """One account of a cluster, as the graph and the member table show it."""

    account: str
    tier: str
    score: float
    requests: int
    last_seen: float | None
    override: str | None
    """The tier of the operator's override in force on the account (its own, else its
    cluster's), if any."""
    tier_reason: str | None = None
    """Why `tier` is what it is when an operator decided it (`operator override on cluster:
    blocked`); None when it is the engine's."""


@dataclass(frozen=True, slots=True)
class EdgeView:
    """A link between two accounts, last confirmed at `ts`, and why it was made."""

    a: str
    b: str
    ts: float
    evidence: dict[str, float]
    """The weight of each kind of evidence the two accounts shared when the link was last
    confirmed (network, software, app, content: 0 for none, 1 for a value only they share).
    Weights only: never the address, key or prompt behind them."""


@dataclass(frozen=True, slots=True)
class AccountStanding:
    """Where an account stands: its cluster, the tier in force and the engine's, and what this
    replica saw of it. The fields the flagged-accounts list and the account page share."""

    account: str
    cluster: str
    """Its cluster of two or more accounts, or '' when it is on its own."""
    cluster_size: int
    tier: str
    """The tier in force (an operator's override included)."""
    engine_tier: str
    score: float
    reasons: tuple[str, ...]
    requests: int
    first_seen: float | None
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class FlaggedAccount(AccountStanding):
    """An account the engine flags (suspect or extractor) or an operator blocked, clustered or
    not: one line of the flagged-accounts list."""

    override: str | None
    """The tier of the operator's override in force on the account (its own, else its
    cluster's), if any."""


@dataclass(frozen=True, slots=True)
class PointView:
    """A point of a cluster's score history (one minute)."""

    ts: float
    score: float
    requests: int


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """One line of the top-clusters list."""

    cluster: str
    size: int
    tier: str
    """The tier in force: the operator's override if any, else the engine's latest."""
    engine_tier: str
    score: float
    reasons: tuple[str, ...]
    requests: int
    """Requests this replica saw from the cluster."""
    first_seen: float | None
    last_seen: float | None
    override: dict[str, object] | None
    history: tuple[PointView, ...]


@dataclass(frozen=True, slots=True)
class ClusterDetail:
    """A cluster with its members and the links between them."""

    summary: ClusterSummary
    members: tuple[MemberView, ...]
    edges: tuple[EdgeView, ...]
    truncated: bool
    """Whether the graph shows only the `GRAPH_MEMBERS` most recent members."""


@dataclass(frozen=True, slots=True)
class AccountDetail(AccountStanding):
    """Everything known about one account."""

    override: dict[str, object] | None
    cluster_override: dict[str, object] | None
    linked: tuple[EdgeView, ...]
    recent: tuple[RequestView, ...]


def _override(deployment: Deployment, scope: OverrideScope, subject: str) -> Override | None:
    return deployment.overrides.get(scope, subject) if subject else None


def _tier_of(override: Override | None) -> str | None:
    """The tier an override forces (None when there is none, or it only sets a quota)."""
    return override.tier.value if override is not None and override.tier is not None else None


def _in_force(deployment: Deployment, account: str, cluster: str) -> Override | None:
    """The override that decides an account's tier: its own, else its cluster's (an override
    that only sets a quota multiplier decides no tier)."""
    own = _override(deployment, OverrideScope.ACCOUNT, account)
    if own is not None and own.tier is not None:
        return own
    if cluster == account:
        return None
    shared = _override(deployment, OverrideScope.CLUSTER, cluster)
    return shared if shared is not None and shared.tier is not None else None


class _SeenFields(TypedDict):
    """What this replica saw of an account or a cluster, as every view shows it."""

    score: float
    reasons: tuple[str, ...]
    requests: int
    first_seen: float | None
    last_seen: float | None


def _seen_fields(activity: AccountActivity | ClusterActivity | None) -> _SeenFields:
    if activity is None:
        return _SeenFields(score=0.0, reasons=(), requests=0, first_seen=None, last_seen=None)
    return _SeenFields(
        score=round(activity.score, 4),
        reasons=activity.reasons,
        requests=activity.requests,
        first_seen=activity.first_seen,
        last_seen=activity.last_seen,
    )


def _cluster_of(assignment: dict[str, str], account: str, seen: AccountActivity | None) -> str:
    """The account's cluster in the store, else the one this replica last saw it in, else ''."""
    cluster = assignment.get(account, "")
    if not cluster and seen is not None and seen.cluster != account:
        cluster = seen.cluster
    return cluster


def _edge(link: Link) -> EdgeView:
    return EdgeView(link.a, link.b, link.ts, dict(zip(EVIDENCE_KINDS, link.weights, strict=False)))


def _summary(
    deployment: Deployment, cluster: str, size: int, activity: ClusterActivity | None
) -> ClusterSummary:
    override = _override(deployment, OverrideScope.CLUSTER, cluster)
    engine_tier = activity.tier.value if activity else Tier.NORMAL.value
    history: tuple[PointView, ...] = ()
    if activity is not None:
        history = tuple(PointView(p.ts, round(p.score, 4), p.requests) for p in activity.history)
    return ClusterSummary(
        cluster=cluster,
        size=size,
        tier=_tier_of(override) or engine_tier,
        engine_tier=engine_tier,
        **_seen_fields(activity),
        override=override.as_json() if override else None,
        history=history,
    )


def _members_by_cluster(assignment: dict[str, str]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for account, cluster in assignment.items():
        members.setdefault(cluster, []).append(account)
    return members


async def top_clusters(deployment: Deployment, limit: int) -> list[ClusterSummary]:
    """The clusters most worth an operator's look: highest score first, then largest."""
    assignment = await deployment.detection.clusters()
    members = _members_by_cluster(assignment)
    activity = await deployment.detection.cluster_activity()
    # A cluster re-clustering renamed has no record under its new id until a member's next
    # request: stand in with its members' own records, so it is not hidden meanwhile.
    unrecorded = [c for c, accounts in members.items() if c not in activity and len(accounts) > 1]
    if unrecorded:
        seen = await deployment.detection.account_activity(
            [a for c in unrecorded for a in members[c]]
        )
        for cid in unrecorded:
            known = [seen[a] for a in members[cid] if a in seen]
            stand_in = cluster_from_members(known, len(members[cid]))
            if stand_in is not None:
                activity[cid] = stand_in
    ids = set(members) | set(activity)
    summaries = [
        _summary(
            deployment,
            cid,
            len(members[cid]) if cid in members else activity[cid].size,
            activity.get(cid),
        )
        for cid in ids
    ]
    # A cluster this replica saw no request from has nothing to show (no score, no reasons)
    # unless an operator acted on it.
    summaries = [s for s in summaries if s.requests or s.override is not None]
    summaries.sort(key=lambda s: (-s.score, -s.size, -(s.last_seen or 0.0), s.cluster))
    return summaries[:limit]


def _member(
    deployment: Deployment, account: str, cluster: str, seen: AccountActivity | None
) -> MemberView:
    # The tier in force now: an override set since the member's last request decides it too
    # (a blocked cluster's members are blocked, whatever their last request was told).
    override = _in_force(deployment, account, cluster)
    tier = seen.engine_tier.value if seen else Tier.NORMAL.value
    return MemberView(
        account=account,
        tier=_tier_of(override) or tier,
        score=round(seen.score, 4) if seen else 0.0,
        requests=seen.requests if seen else 0,
        last_seen=seen.last_seen if seen else None,
        override=_tier_of(override),
        tier_reason=_override_reason(override) if override else None,
    )


def _override_reason(override: Override) -> str:
    reason = f"operator override on {override.scope.value}: {_tier_of(override)}"
    return f"{reason} ({override.note})" if override.note else reason


async def cluster_detail(deployment: Deployment, cluster: str) -> ClusterDetail | None:
    """A cluster's members and graph, or None when neither the store nor this replica knows it."""
    assignment = await deployment.detection.clusters()
    in_store = [a for a, c in assignment.items() if c == cluster]
    activity = (await deployment.detection.cluster_activity([cluster])).get(cluster)
    if not in_store and activity is None:
        return None
    # The store's membership is authoritative (and shared); this replica's record only stands in
    # for a cluster the store does not hold (yet).
    everyone = set(in_store) if in_store else set(activity.accounts if activity else ())
    accounts = await deployment.detection.account_activity(everyone)
    # The most recently active members first, so a capped graph shows the live part.
    ordered = sorted(
        everyone, key=lambda a: (-(accounts[a].last_seen if a in accounts else 0.0), a)
    )
    shown = ordered[:GRAPH_MEMBERS]
    shown_set = set(shown)
    since = deployment.clock() - deployment.detection.link_ttl
    edges = tuple(
        _edge(link)
        for link in await deployment.detection.links(since)
        if link.a in shown_set and link.b in shown_set
    )
    size = len(in_store) if in_store else (activity.size if activity else len(everyone))
    if activity is None:
        activity = cluster_from_members([accounts[a] for a in everyone if a in accounts], size)
    return ClusterDetail(
        summary=_summary(deployment, cluster, size, activity),
        members=tuple(_member(deployment, a, cluster, accounts.get(a)) for a in shown),
        edges=edges,
        truncated=len(ordered) > len(shown),
    )


async def account_detail(deployment: Deployment, account: str) -> AccountDetail | None:
    """An account's verdict, links and recent requests, or None when it is unknown."""
    assignment = await deployment.detection.clusters()
    seen = (await deployment.detection.account_activity([account])).get(account)
    since = deployment.clock() - deployment.detection.link_ttl
    linked = tuple(
        _edge(link)
        for link in await deployment.detection.links(since)
        if account in (link.a, link.b)
    )
    cluster = _cluster_of(assignment, account, seen)
    if seen is None and not cluster and not linked:
        override = _override(deployment, OverrideScope.ACCOUNT, account)
        if override is None:
            return None
    own = _override(deployment, OverrideScope.ACCOUNT, account)
    of_cluster = _override(deployment, OverrideScope.CLUSTER, cluster)
    engine_tier = seen.engine_tier.value if seen else Tier.NORMAL.value
    size = sum(1 for c in assignment.values() if c == cluster) if cluster else 1
    return AccountDetail(
        account=account,
        cluster=cluster,
        cluster_size=max(size, 1),
        tier=_tier_of(own) or _tier_of(of_cluster) or engine_tier,
        engine_tier=engine_tier,
        **_seen_fields(seen),
        override=own.as_json() if own else None,
        cluster_override=of_cluster.as_json() if of_cluster else None,
        linked=linked,
        recent=tuple(
            RequestView(r.ts, r.api, r.model, r.tier.value, r.score, r.actions, r.ip_prefix)
            for r in reversed(seen.recent)
        )
        if seen
        else (),
    )


async def flagged_accounts(deployment: Deployment, limit: int) -> list[FlaggedAccount]:
    """The accounts flagged lately (`activity.flagged`), on their own or in a cluster, highest
    score first: a lone extractor is in no cluster list, and must be seen all the same."""
    assignment = await deployment.detection.clusters()
    sizes = cluster_sizes(assignment)
    out = []
    for account, seen in (await deployment.detection.account_activity(None)).items():
        cluster = _cluster_of(assignment, account, seen)
        override = _in_force(deployment, account, cluster)
        out.append(
            FlaggedAccount(
                account=account,
                cluster=cluster,
                cluster_size=sizes.get(cluster, 1) if cluster else 1,
                tier=_tier_of(override) or seen.engine_tier.value,
                engine_tier=seen.engine_tier.value,
                **_seen_fields(seen),
                override=_tier_of(override),
            )
        )
    out.sort(key=lambda f: (-f.score, -(f.last_seen or 0.0), f.account))
    return out[:limit]
