"""`ProcessDetection`: detection in a detector process, behind the same `Detection` interface as
inline detection."""

from __future__ import annotations

from collections.abc import Callable, Collection

from guardgate.activity import AccountActivity, ClusterActivity
from guardgate.detection import GateRequest, Judgement
from guardgate.detector._process import DetectorProcess
from guardgate.detector.calls import (
    AccountActivityQuery,
    ClusterActivityQuery,
    ClustersQuery,
    ForgetCommand,
    LinksQuery,
    ReclusterCommand,
)
from guardgate.model import ApiKind, Decision, Tier, Verdict
from guardgate.signals import Observer
from guardgate.signals.observe import Sender
from guardgate.store import Link

__all__ = ["ProcessDetection"]


class ProcessDetection:
    """A detector process judges; the request path reads its latest verdict and queues the
    request's signals with the decision taken (the raw key stays in this process: the detector
    gets the account id and the headers with their credentials blanked)."""

    meters_answers = True

    def __init__(self, observer: Observer, process: DetectorProcess, link_ttl: float) -> None:
        self.observer = observer
        self.process = process
        self.link_ttl = link_ttl
        self.meter: Callable[[ApiKind, list[bytes]], None] = process.meter
        """Hand a held JSON answer to the detector, which reports its tokens to the metrics
        (the process's own method: no call of this class's on the way)."""
        self.record: Callable[[ApiKind, str, bytes, float, Judgement, Decision], None] = (
            process.submit
        )
        """Queue the request's signals and its decision for the detector (the process's own
        method, as `meter`: a call less on every request)."""
        self._last = Judgement(Verdict("", "", 0.0, Tier.NORMAL))
        self._verdicts = process._verdicts  # cleared in place, never replaced

    async def start(self) -> None:
        """Start the detector process."""
        await self.process.start()

    async def close(self) -> None:
        """Stop the detector process."""
        await self.process.close()

    def judge_now(self, sender: Sender, now: float) -> Judgement:
        """The detector's latest verdict on `sender`."""
        # The process's table read directly (a call less on every request); an account not
        # judged yet takes `verdict`'s default.
        verdict = self._verdicts.get(sender.account)
        if verdict is None:
            verdict = self.process.verdict(sender.account)
        last = self._last
        if last.verdict is verdict and last.sender is sender:
            return last  # the same client again, with the same verdict: nothing new to build
        self._last = judgement = Judgement(verdict, sender=sender)
        return judgement

    async def judge(self, request: GateRequest, now: float, prompt_tokens: int) -> Judgement:
        """As `judge_now`: the verdict never waits on the detector."""
        sender = request.sender
        if sender is None:
            sender = self.observer.sender(request.headers, request.peer)
        return Judgement(self.process.verdict(sender.account), sender=sender)

    def fallback(self, request: GateRequest) -> Verdict:
        """The detector's latest verdict (the table outlives the process)."""
        return self.process.verdict(self.observer.sender(request.headers, request.peer).account)

    async def drain(self) -> None:
        """Nothing runs in this process."""

    async def clusters(self) -> dict[str, str]:
        """Asked of the detector (after the requests submitted before)."""
        found: dict[str, str] = await self.process.call(ClustersQuery())
        return found

    async def links(self, since: float) -> list[Link]:
        """Asked of the detector."""
        found: list[Link] = await self.process.call(LinksQuery(since))
        return found

    async def recluster(self, now: float) -> None:
        """Asked of the detector."""
        await self.process.call(ReclusterCommand(now))

    async def forget(self, account: str) -> bool:
        """Asked of the detector (after the requests queued before)."""
        known: bool = await self.process.call(ForgetCommand(account))
        return known

    async def cluster_activity(
        self, clusters: Collection[str] | None = None
    ) -> dict[str, ClusterActivity]:
        """The detector keeps the record (it is told every decision)."""
        found: dict[str, ClusterActivity] = await self.process.call(
            ClusterActivityQuery(None if clusters is None else tuple(clusters))
        )
        return found

    async def account_activity(
        self, accounts: Collection[str] | None = None
    ) -> dict[str, AccountActivity]:
        """The detector keeps the record."""
        found: dict[str, AccountActivity] = await self.process.call(
            AccountActivityQuery(None if accounts is None else tuple(accounts))
        )
        return found
