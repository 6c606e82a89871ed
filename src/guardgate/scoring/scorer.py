"""The `Scorer`: account features in, score, tier and reasons out; clusters lift their members.

Per request: one feature-store update (the only I/O), then pure arithmetic. Cluster scores are
computed in the background from the pooled state of each cluster's members and cached per
replica, so reading a cluster's score costs nothing on the request path.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping, Sequence

from guardgate.linking.evidence import evidence_values
from guardgate.model import Observation, Tier
from guardgate.records import record
from guardgate.scoring.features import (
    ASKED_K,
    INDICATORS,
    AccountState,
    budget_share,
    budget_tokens,
    slots_active,
    slots_covered,
)
from guardgate.scoring.model import (
    MEMBER_VOLUME_UNIT,
    POOL_UNIT,
    Score,
    ScoringModel,
    clock_share,
    pooled_excess,
)
from guardgate.scoring.reputation import EvidenceReputation
from guardgate.scoring.state import FeatureStore, MemoryFeatureStore
from guardgate.scoring.tiers import TierThresholds

logger = logging.getLogger("guardgate")

ATTACH_LINKS = 2
"""Supported links (see `linking.graph`) from which a member takes its cluster's whole lift; a
member held by one takes half (chosen on the tuning seeds: reasoning power users joined to farm
clusters by one link, 6 of 97 flagged, went to 3, at one attack account's cost)."""


@record
class ClusterScore:
    """The score of one cluster from its members' pooled features."""

    cluster: str
    size: int
    score: Score
    harvest: float = 0.0
    """How far the output its members asked for, pooled, goes beyond a single heavy user's (0
    at `POOL_UNIT` or less, 1 at twice that or more), times how near the members' average comes
    to a heavy user's share (0 at half of `MEMBER_VOLUME_UNIT` or less, 1 at it or more)."""


@record
class Judgement:
    """The scorer's conclusion on one request's sender."""

    score: float
    tier: Tier
    reasons: tuple[str, ...]
    own_score: float
    """The account's score on its own features, before any cluster lift."""


class Scorer:
    """Scores accounts and clusters; one per engine."""

    def __init__(
        self,
        store: FeatureStore | None = None,
        model: ScoringModel | None = None,
        thresholds: TierThresholds | None = None,
        *,
        cluster_lift: float = 0.5,
        cluster_refresh: float = 900.0,
        min_cluster_size: int = 2,
        top_reasons: int = 3,
        reputation: EvidenceReputation | None = None,
        bands: int = 8,
    ) -> None:
        self.store: FeatureStore = store if store is not None else MemoryFeatureStore()
        self.model = model if model is not None else ScoringModel()
        self.thresholds = thresholds if thresholds is not None else TierThresholds()
        self.cluster_lift = cluster_lift
        """Most a cluster's score adds to a member's own score: a member that looks harmless on
        its own (a developer whose tooling happens to match a farm's) is not flagged by its
        cluster alone, while a farm account with a few telling requests is flagged at once."""
        self.cluster_refresh = cluster_refresh
        """Seconds (request time) between recomputations of the cluster scores."""
        self.min_cluster_size = min_cluster_size
        self.top_reasons = top_reasons
        self.clusters: dict[str, ClusterScore] = {}
        """Cluster id -> score, as of the last `refresh_clusters`."""
        self.degrees: Mapping[str, int] = {}
        """Clustered account -> its supported links, as of the last `refresh_clusters`."""
        self.reputation = reputation if reputation is not None else EvidenceReputation()
        """The flagged share of each evidence value's recent traffic (this replica's)."""
        self.bands = bands
        """Template-sketch bands in the evidence values (as linking's)."""
        self._writes: set[asyncio.Task[None]] = set()
        self._inline = isinstance(self.store, MemoryFeatureStore)

    async def observe(self, obs: Observation) -> AccountState:
        """Fold one request into its sender's features (one store call)."""
        return await self.store.update(obs)

    def judge(
        self,
        obs: Observation,
        state: AccountState,
        cluster: str,
        values: Sequence[str] | None = None,
    ) -> Judgement:
        """Score the sender of `obs` from its updated `state` and its cluster's cached score;
        `values`, when given, are `evidence_values(obs, self.bands)` already worked out (or
        empty without an account)."""
        if values is None:
            values = evidence_values(obs, self.bands) if obs.account else []
        kin = 0.0
        budget = budget_share(budget_tokens(obs))
        if values and state.novel and obs.turns <= 1:
            # Kin counts for a harvest-shaped request only (a new prompt, single-shot, a long
            # budget): a shared benchmark run again, or a conversation, inherits nothing.
            kin = self.reputation.share(values, obs.ts, state.count)
            # A new account is judged by its kin; an established one by its own record (the
            # kin share fades as its rates settle, like the prior they are shrunk towards).
            prior = self.model.prior_weight
            kin *= budget * prior / (state.count + prior)
        own = self.model.score(
            state.sums or [0.0] * len(INDICATORS),
            state.count,
            slots_active(state, obs.ts),
            kin=kin,
        )
        value = own.value
        plain = value  # the score with the plain cluster lift only
        reasons = own.reasons(self.top_reasons)
        pooled = self.clusters.get(cluster)
        if pooled is not None and pooled.score.value > value:
            # A member held by one link takes part of the lift: one shared value pair can be a
            # coincidence (a build and a question alike), while a farm's accounts each share
            # its evidence with several of the others.
            held = min(1.0, self.degrees.get(obs.account, ATTACH_LINKS) / ATTACH_LINKS)
            # The lift scales with the budget this request asks for: a farm's member harvesting
            # long answers takes its cluster's score, a member asking for short ones (a SaaS back
            # end whose addresses a farm's cloud shares) keeps close to its own.
            plain = min(pooled.score.value, value + self.cluster_lift * budget * held)
            # A cluster whose pooled harvest is beyond any one person's lifts further, in
            # proportion to what this member itself asks for: a farm's accounts each asking a
            # heavy user's share take its score, a light member of the same cluster does not.
            lift = self.cluster_lift
            if pooled.harvest > 0 and state.sums:
                asked = max(0.0, state.sums[ASKED_K]) / MEMBER_VOLUME_UNIT
                # A member asking beyond a whole pool's worth alone is a batch job of its own (an
                # evaluation launch), judged on its own record, not hidden in a crowd.
                if asked * MEMBER_VOLUME_UNIT <= POOL_UNIT:
                    lift += (1.0 - lift) * pooled.harvest * min(1.0, asked)
            lifted = min(pooled.score.value, value + lift * budget * held)
            if lifted > value:
                value = lifted
                reasons = (
                    f"linked to a cluster of {pooled.size} accounts scoring "
                    f"{pooled.score.value:.2f}",
                    *pooled.score.reasons(self.top_reasons - 1),
                )
        previous = _tier(state.tier)
        tier = self.thresholds.next_tier(previous, state.tier_ts, value, obs.ts)
        if tier is not previous:
            self._remember(obs.account, tier, obs.ts, state)
        if values:
            # A member flagged only for its cluster's pooled volume lends its evidence no kin:
            # its requests look like anyone's (a farm posing as a popular agent shares the
            # agent's prompt, tools and build with the agent's whole crowd).
            pooled_only = value > plain and plain < self.thresholds.suspect_enter
            self.reputation.record(values, obs.ts, tier in _FLAGGED and not pooled_only)
        return Judgement(score=value, tier=tier, reasons=reasons, own_score=own.value)

    def _remember(self, account: str, tier: Tier, ts: float, state: AccountState) -> None:
        state.tier = tier.value
        state.tier_ts = ts
        if self._inline:
            return  # the memory store handed out its own state object: already recorded
        task = asyncio.get_running_loop().create_task(self._write_tier(account, tier, ts))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_tier(self, account: str, tier: Tier, ts: float) -> None:
        try:
            await self.store.set_tier(account, tier.value, ts)
        except Exception:
            # Only hysteresis is lost: the next request decides the tier again from its score.
            logger.warning("guardgate could not record a tier change", exc_info=True)

    async def refresh_clusters(
        self,
        assignment: Mapping[str, str],
        now: float,
        degrees: Mapping[str, int] | None = None,
    ) -> int:
        """Recompute every cluster's score from its members' state; returns how many.
        `degrees`: each clustered account's supported links (`Linker.degrees`); an account
        missing from it (a member since) counts as held by `ATTACH_LINKS`."""
        self.degrees = degrees if degrees is not None else {}
        members: dict[str, list[str]] = {}
        for account, cluster in assignment.items():
            members.setdefault(cluster, []).append(account)
        wanted = [a for ms in members.values() if len(ms) >= self.min_cluster_size for a in ms]
        states = await self.store.states(wanted) if wanted else {}
        scores: dict[str, ClusterScore] = {}
        for cluster, accounts in members.items():
            if len(accounts) < self.min_cluster_size:
                continue
            found = [states[a] for a in accounts if a in states]
            # A farm's loops run round the clock; a team behind one office address running the
            # same agent as hard keeps to its working day: its volume pools nothing.
            clock = clock_share(slots_covered(found, now))
            pooled = self.pool(found, now, clock)
            if pooled is not None:
                sums = [0.0] * len(INDICATORS)
                for state in found:
                    if state.sums is not None:
                        sums[ASKED_K] += state.sums[ASKED_K]
                # Beyond one person's volume pooled, and a heavy user's share per member: a
                # farm's loops each ask as much as a heavy user, while a crowd of light senders
                # (a NAT, a class, a farm's many small accounts with a few people among them)
                # averages far less per member.
                share = sums[ASKED_K] / len(found) / MEMBER_VOLUME_UNIT
                each = min(1.0, max(0.0, math.log2(share) + 1.0)) if share > 0 else 0.0
                harvest = min(1.0, pooled_excess(sums)) * each * clock
                scores[cluster] = ClusterScore(cluster, len(accounts), pooled, harvest)
        self.clusters = scores
        return len(scores)

    def pool(self, states: list[AccountState], now: float, clock: float = 1.0) -> Score | None:
        """The score of the pooled features of several accounts (a cluster).

        Rates are pooled over all members' requests; round-the-clock activity is the members'
        mean, as several people in different time zones together cover the clock. A cluster
        gains `cluster` log-odds per doubling of its size beyond one: the linker found several
        accounts to be one sender, which a person rarely is. Its volume terms count in
        proportion to `clock` (`model.clock_share` of the slots the members cover together).
        """
        if not states:
            return None
        sums = [0.0] * len(INDICATORS)
        count = 0.0
        active = 0
        for state in states:
            if state.sums is None:
                continue
            for i, s in enumerate(state.sums):
                sums[i] += s
            count += state.count
            active += slots_active(state, now)
        return self.model.score(
            sums, count, round(active / len(states)), members=len(states), clock=clock
        )

    async def close(self) -> None:
        """Finish pending tier writes."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)


_FLAGGED = frozenset({Tier.SUSPECT, Tier.EXTRACTOR, Tier.BLOCKED})


def _tier(value: str) -> Tier:
    try:
        return Tier(value)
    except ValueError:
        return Tier.NORMAL
