"""`Detection`: the part of the gate that judges who sent a request, and the reads behind the
admin API. Two implementations serve the same interface:

- `InlineDetection` runs the `Observer` and the `Engine` on the request path (the verdict
  includes this request), and keeps the activity record of the decisions it was told;
- `ProcessDetection` (in `guardgate.detector`) hands each request's signals to a detector
  process and answers with the latest verdict it sent (it never waits: the request path's fast
  lane); the detector process runs an `InlineDetection` of its own.

Either keeps the last verdict it knew on each recent account (bounded), which the gate falls back
to when judging fails (`GUARDGATE_FAIL_MODE=open`), so that an outage never relaxes a tier.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any, Protocol

from guardgate.activity import AccountActivity, ActivityLog, ClusterActivity
from guardgate.engine import Engine
from guardgate.model import ApiKind, Decision, Observation, Tier, Verdict
from guardgate.records import record
from guardgate.signals import Observer
from guardgate.signals.observe import Sender
from guardgate.store import Link

__all__ = ["Detection", "GateRequest", "InlineDetection", "Judgement"]

KNOWN_VERDICTS = 100_000
"""Accounts whose last verdict inline detection keeps for fail-open (least recently judged
forgotten first; 27 MB at the bound, measured with two reasons a verdict)."""


@record
class GateRequest:
    """One request to an LLM endpoint as a door hands it to the gate."""

    api: ApiKind
    headers: Sequence[tuple[bytes, bytes]]
    """The raw ASGI header pairs, in order."""
    peer: str
    """The address of the TCP peer (the client, or a proxy in front of it)."""
    body: bytes
    data: dict[str, Any]
    """`body` parsed (a JSON object)."""
    sender: Sender | None = None
    """`Observer.sender(headers, peer)`, when the door worked it out already (it reads the
    credentials from it): detection then does not look it up again."""


@record
class Judgement:
    """The verdict on a request's sender, and what detection needs to record the decision."""

    verdict: Verdict
    observation: Observation | None = None
    """Inline: the request's observation (for the activity record)."""
    sender: Sender | None = None
    """With a detector process: the sender, whose credential-free headers it is sent."""


class Detection(Protocol):
    """Judges requests, records the decisions taken on them, and answers the admin reads."""

    meters_answers: bool
    """Whether JSON answers are handed to `meter` for their usage (a detector process reads
    it off the request path) rather than metered by the door."""
    link_ttl: float
    """Seconds a link between accounts lives (the admin API shows links younger than this)."""

    async def start(self) -> None:
        """Open connections (or start the detector process)."""

    async def close(self) -> None:
        """Write what is queued and close."""

    def judge_now(self, sender: Sender, now: float) -> Judgement | None:
        """The verdict on a request from `sender` without waiting on anything, or None when
        judging must wait (`judge`)."""
        ...

    async def judge(self, request: GateRequest, now: float, prompt_tokens: int) -> Judgement:
        """The verdict on the sender of `request` at `now` (may raise on a storage fault)."""
        ...

    def fallback(self, request: GateRequest) -> Verdict:
        """The last verdict known on the sender of `request`, without any I/O (fail-open)."""
        ...

    def record(
        self,
        api: ApiKind,
        peer: str,
        body: bytes,
        now: float,
        judgement: Judgement,
        decision: Decision,
    ) -> None:
        """Record the decision taken on a judged request (its `api`, `peer` and `body`, from the
        sender `judgement` holds; never waits)."""

    def meter(self, api: ApiKind, chunks: list[bytes]) -> None:
        """Read the usage of a held JSON answer (only when `meters_answers`)."""

    async def drain(self) -> None:
        """Wait for background work started so far (replay does, to be deterministic)."""

    async def clusters(self) -> dict[str, str]:
        """Every clustered account's cluster id."""
        ...

    async def links(self, since: float) -> list[Link]:
        """Links between accounts still live after `since`."""
        ...

    async def recluster(self, now: float) -> None:
        """Write queued links and rebuild the clusters now."""

    async def forget(self, account: str) -> bool:
        """Drop the state `account`'s requests left (its key was refused upstream); whether it
        was known."""
        ...

    async def cluster_activity(
        self, clusters: Collection[str] | None = None
    ) -> dict[str, ClusterActivity]:
        """The activity record of the given clusters (all, without member lists, when None)."""
        ...

    async def account_activity(
        self, accounts: Collection[str] | None = None
    ) -> dict[str, AccountActivity]:
        """The activity record of the given accounts (the flagged ones, without their recent
        requests, when None)."""
        ...


class InlineDetection:
    """The observer and the engine in this process; the verdict includes the request."""

    meters_answers = False

    def __init__(
        self,
        observer: Observer,
        engine: Engine,
        *,
        known: int = KNOWN_VERDICTS,
        record_activity: bool = True,
    ) -> None:
        self.observer = observer
        self.engine = engine
        self._record_activity = record_activity
        self.activity = ActivityLog()
        """Recent verdicts and decisions, for the admin API."""
        self.link_ttl = engine.config.link_ttl
        # An OrderedDict: dropping a plain dict's oldest entry scans past every earlier deletion
        # (about 10 µs a request from a new account at the bound); this one is O(1).
        self._known: OrderedDict[str, Verdict] = OrderedDict()
        self._known_max = known

    async def start(self) -> None:
        """Open the engine's store."""
        await self.engine.start()

    async def close(self) -> None:
        """Finish background work, write queued links, close the store."""
        await self.engine.close()

    def judge_now(self, sender: Sender, now: float) -> Judgement | None:
        """None: the engine's verdict includes the request, which takes `judge`."""
        return None

    async def judge(self, request: GateRequest, now: float, prompt_tokens: int) -> Judgement:
        """Observe the request and run the engine on it."""
        obs = self.observer.observe(
            request.api, request.headers, request.peer, request.data, now, sender=request.sender
        )
        if prompt_tokens:
            obs = replace(obs, prompt_tokens=prompt_tokens)
        return Judgement(await self.observe(obs), observation=obs)

    async def observe(self, obs: Observation) -> Verdict:
        """The engine's verdict on the sender of `obs`, remembered for `fallback`."""
        verdict = await self.engine.observe(obs)
        known = self._known
        # Order is recency: the least recently judged account goes first.
        if verdict.account in known:
            known.move_to_end(verdict.account)
        elif len(known) >= self._known_max:
            known.popitem(last=False)
        known[verdict.account] = verdict
        return verdict

    def fallback(self, request: GateRequest) -> Verdict:
        """The last verdict this replica got on the sender (the account id is an HMAC of its
        credentials: no I/O), or a fresh `normal` one for an account it never judged."""
        account = self.observer.sender(request.headers, request.peer).account
        known = self._known.get(account)
        return known if known is not None else Verdict(account, account, 0.0, Tier.NORMAL)

    def record(
        self,
        api: ApiKind,
        peer: str,
        body: bytes,
        now: float,
        judgement: Judgement,
        decision: Decision,
    ) -> None:
        """Add the decision to the activity record (unless it is not kept)."""
        obs = judgement.observation
        if obs is not None and self._record_activity:
            self.activity.record(obs, decision, engine_tier=judgement.verdict.tier)

    def meter(self, api: ApiKind, chunks: list[bytes]) -> None:
        """Inline, the door meters answers itself."""

    async def drain(self) -> None:
        """Wait for the engine's background work."""
        await self.engine.drain()

    async def clusters(self) -> dict[str, str]:
        """From the store."""
        return await self.engine.store.clusters()

    async def links(self, since: float) -> list[Link]:
        """From the store."""
        return await self.engine.store.links(since)

    async def recluster(self, now: float) -> None:
        """Re-cluster in this process."""
        await self.engine.recluster(now)

    async def forget(self, account: str) -> bool:
        """Forget in this process's engine (and the fail-open memory)."""
        self._known.pop(account, None)
        return await self.engine.forget(account)

    async def cluster_activity(
        self, clusters: Collection[str] | None = None
    ) -> dict[str, ClusterActivity]:
        """From this replica's record."""
        return self.activity.cluster_entries(clusters)

    async def account_activity(
        self, accounts: Collection[str] | None = None
    ) -> dict[str, AccountActivity]:
        """From this replica's record."""
        return self.activity.account_entries(accounts)
