"""The online side of linking: per request, record evidence and find linked accounts (one store
round trip); in the background, write links and re-cluster (one replica at a time)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence

from guardgate.linking.clusters import assign
from guardgate.linking.config import LinkingConfig
from guardgate.linking.evidence import evidence_values
from guardgate.linking.graph import LinkGraph
from guardgate.linking.pairs import PairEvidence, PairScorer
from guardgate.model import Observation
from guardgate.records import record
from guardgate.store import Link, Store
from guardgate.store._base import cluster_sizes, link_key

_LOCK = "recluster"
_MAX_PENDING = 20_000
_MAX_RECENT = 200_000


@record
class Membership:
    """The cluster of a request's sender, as far as is known now."""

    cluster: str
    size: int
    linked: tuple[PairEvidence, ...] = ()
    """Accounts this request linked the sender to (with the evidence)."""
    provisional: bool = False
    """True when the cluster comes from this request's links, before re-clustering confirms."""


@record
class ReclusterResult:
    """What one re-clustering did."""

    links: int
    clusters: int
    clustered_accounts: int
    largest: int


class Linker:
    """Links accounts into clusters. One per engine; safe with any number of replicas."""

    def __init__(self, store: Store, config: LinkingConfig, *, owner: str | None = None) -> None:
        self.store = store
        self.config = config
        self.scorer = PairScorer(config)
        self.owner = owner or uuid.uuid4().hex
        self.pending: list[Link] = []
        self._sent: dict[tuple[str, str], float] = {}
        self._seen: dict[tuple[str, str], int] = {}
        # Accounts that have sent a request without tools: not (only) an agent's users.
        self._scripted: set[str] = set()
        # Accounts whose latest request came from a crowd's agent.
        self._crowd: set[str] = set()
        # Exact prompt -> the account that sent it first (see `_shared_prompt`), and account
        # -> the last prompt it sent first (for `forget`).
        self._first_sender: dict[str, str] = {}
        self._introduced: dict[str, str] = {}
        self._next_recluster: float | None = None
        self._graph = LinkGraph(config.min_link_support)
        self._cursor = -1
        self._assignment: dict[str, str] = {}
        self._sizes: dict[str, int] = {}

    async def observe(self, obs: Observation, values: Sequence[str] | None = None) -> Membership:
        """Record this request's evidence and return its sender's cluster; `values`, when
        given, are `evidence_values(obs, config.bands)` already worked out."""
        account = obs.account
        if not account or account == "anonymous":
            return Membership(account, 1)
        cfg = self.config
        if values is None:
            values = evidence_values(obs, cfg.bands)
        public = self._shared_prompt(obs)
        touch = await self.store.touch(account, obs.ts, values)
        crowd_agent = self._runs_agent(obs) and self.scorer.crowd_tools(touch)
        crowd = self._crowd
        if crowd_agent:
            if len(crowd) > _MAX_RECENT:
                crowd.clear()
            crowd.add(account)
        else:
            crowd.discard(account)
        evidence = self.scorer.evaluate(
            touch, crowd_agent=crowd_agent, crowd=crowd, content=not public
        )
        linked = self._confirmed(account, tuple(e for e in evidence if e.linked))
        if linked:
            self._queue(account, linked, obs.ts)
        if touch.cluster:
            return Membership(touch.cluster, max(1, touch.cluster_size), linked)
        if linked:
            found = Counter(
                touch.member_clusters[e.other] for e in linked if e.other in touch.member_clusters
            )
            if found:
                cid, count = min(found.items(), key=lambda kv: (-kv[1], kv[0]))
                return Membership(cid, count + 1, linked, provisional=True)
        return Membership(account, 1, linked)

    def _shared_prompt(self, obs: Observation) -> bool:
        """Whether another account sent this exact prompt first. Such a prompt is a public one
        (a benchmark item, this week's popular question, a class's homework), not an actor's
        own template: many honest accounts send it word for word, while a farm pays for every
        prompt and sends each from one account. Its wording then is no evidence of who sent
        it, so the request's content values are recorded (they keep the counts that say how
        common a wording is) but not compared. Not free for a farm: a copied prompt
        buys it nothing new (scoring counts it as seen). Remembered per replica."""
        prompt = obs.prompt_hash
        if not prompt:
            return False
        first = self._first_sender.get(prompt)
        if first is None:
            senders, introduced = self._first_sender, self._introduced
            if len(senders) > _MAX_RECENT:
                senders.clear()
                introduced.clear()
            senders[prompt] = obs.account
            introduced[obs.account] = prompt
            return False
        return first != obs.account

    def forget(self, account: str) -> None:
        """Forget what `account` made known, when the upstream refused its key on its first
        request: a refused key sending a farm's prompts first must not make them public."""
        prompt = self._introduced.pop(account, None)
        if prompt is not None and self._first_sender.get(prompt) == account:
            del self._first_sender[prompt]
        self._scripted.discard(account)
        self._crowd.discard(account)

    def _runs_agent(self, obs: Observation) -> bool:
        """Whether the sender runs an agent: this request and every earlier one of it carried
        tool schemas, this one a system prompt too (an agent sends both at every step; a
        person or a script sends requests with and without tools). Remembered per replica."""
        if obs.tools_hash:
            return bool(obs.system_hash) and obs.account not in self._scripted
        scripted = self._scripted
        if len(scripted) > _MAX_RECENT:
            scripted.clear()
        scripted.add(obs.account)
        return False

    def _confirmed(
        self, account: str, linked: tuple[PairEvidence, ...]
    ) -> tuple[PairEvidence, ...]:
        """The links seen in at least `min_confirmations` requests (`content_alone_confirmations`
        for content-only links): one request can match a stranger by coincidence (a common
        question, a shared exit IP); one actor matches again."""
        cfg = self.config
        if not linked or (cfg.min_confirmations <= 1 and cfg.content_alone_confirmations <= 1):
            return linked
        seen = self._seen
        if len(seen) > _MAX_RECENT:
            seen.clear()
        out = []
        for evidence in linked:
            key = link_key(account, evidence.other)
            count = seen.get(key, 0) + 1
            seen[key] = count
            if count >= (
                cfg.content_alone_confirmations if evidence.content_only else cfg.min_confirmations
            ):
                out.append(evidence)
        return tuple(out)

    def _queue(self, account: str, linked: tuple[PairEvidence, ...], ts: float) -> None:
        # A link confirmed a minute ago need not be written again: refresh it a few times per
        # link lifetime only, so steady traffic between linked accounts costs no extra writes.
        refresh = self.config.link_ttl / 8
        sent = self._sent
        if len(sent) > _MAX_RECENT:
            sent.clear()
        for evidence in linked:
            key = link_key(account, evidence.other)
            if sent.get(key, float("-inf")) > ts - refresh:
                continue
            sent[key] = ts
            if len(self.pending) < _MAX_PENDING:
                # The weights per kind say why (never the values that matched).
                weights = tuple(round(w, 3) for w in evidence.weights)
                self.pending.append(Link(key[0], key[1], ts, weights))

    def due(self, now: float) -> bool:
        """Whether a re-clustering is due at request time `now` (true once per interval)."""
        if self._next_recluster is None:
            self._next_recluster = now + self.config.recluster_interval
            return False
        if now >= self._next_recluster:
            self._next_recluster = now + self.config.recluster_interval
            return True
        return False

    async def flush(self) -> int:
        """Write queued links; returns how many."""
        pending, self.pending = self.pending, []
        if pending:
            try:
                await self.store.add_links(pending)
            except BaseException:
                self.pending = pending + self.pending  # try again next time
                raise
        return len(pending)

    async def recluster(self, now: float) -> ReclusterResult | None:
        """Bring the clusters up to date with the live links, unless another replica is doing it.

        Only the components around links that changed since the last run are recomputed, and
        clusters are written only when an assignment changed; the result is the one a rebuild
        from all live links would give (`clusters.components` and `assign`).
        """
        store = self.store
        if not await store.acquire(_LOCK, self.owner, self.config.lock_ttl):
            return None
        try:
            await self.flush()
            since = now - self.config.link_ttl
            previous = await store.clusters()
            # Clusters other than the ones this linker wrote (another replica's, or a store that
            # lost its state): read every live link rather than trust the changes since.
            cursor = self._cursor if previous == self._assignment else -1
            changes = await store.link_changes(since, cursor)
            # No await from here to the new assignment: a failure cannot leave the graph ahead
            # of the assignment (a failed write shows as `previous` differing next time).
            self._cursor = changes.cursor
            region, found = self._graph.update(changes.pairs, since, complete=changes.complete)
            if previous == self._assignment:
                changed = self._reassign(region, found, previous)
            else:
                # Another replica (or an operator) wrote clusters since: assign every id anew.
                self._assignment = assign(self._graph.groups(), previous)
                self._sizes = cluster_sizes(self._assignment)
                changed = True
            if changed:
                await store.replace_clusters(self._assignment)
        finally:
            await store.release(_LOCK, self.owner)
        sizes = self._sizes
        return ReclusterResult(
            links=len(self._graph.ts),
            clusters=len(sizes),
            clustered_accounts=len(self._assignment),
            largest=max(sizes.values(), default=0),
        )

    def degrees(self) -> dict[str, int]:
        """Each clustered account's supported links, as of this linker's last re-clustering
        (current on the replica that re-clustered last)."""
        return self._graph.degrees()

    def _reassign(
        self, region: set[str], found: list[list[str]], previous: Mapping[str, str]
    ) -> bool:
        """Give ids to the recomputed components only; the clusters outside `region` keep
        theirs. Returns whether any account's cluster changed."""
        if not region:
            return False
        old = {x: previous[x] for x in region if x in previous}
        touched = set(old.values())
        reserved = [cid for cid in self._sizes if cid not in touched]
        ids = assign(found, old, reserved)
        if ids == old:
            return False
        assignment, sizes = self._assignment, self._sizes
        for x, cid in old.items():
            del assignment[x]
            sizes[cid] -= 1
            if not sizes[cid]:
                del sizes[cid]
        for x, cid in ids.items():
            assignment[x] = cid
            sizes[cid] = sizes.get(cid, 0) + 1
        return True
