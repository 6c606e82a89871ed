"""The detector process: reads batches of request signals from its parent, runs the engine on
them in order and sends back the verdicts that changed; answers the admin API's store reads."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from guardgate.detection import InlineDetection
from guardgate.detector._frames import encode, read_frame
from guardgate.detector.calls import (
    AccountActivityQuery,
    ClusterActivityQuery,
    ClustersQuery,
    DetectorCall,
    ForgetCommand,
    LinksQuery,
    ReclusterCommand,
)
from guardgate.engine import Engine
from guardgate.heap import HeapPolicy, keep_heap
from guardgate.model import ApiKind, Decision, DetectionMode, Tier, Verdict
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.store import MemoryStore
from guardgate.tokens import TokenCounter
from guardgate.usage import UsageMeter, reported_completion_tokens

logger = logging.getLogger("guardgate")

RESEND_AFTER = 5.0
"""Seconds of request time after which an unchanged verdict is sent again, so that a parent that
forgot it (its table is bounded) learns it again from the account's next request."""
_SCORE_STEP = 0.01
"""A score change smaller than this alone is not worth a message."""
_REMEMBERED = 1_000_000
"""Accounts whose last sent verdict is remembered (beyond it, verdicts are sent again)."""
_REDIS_WINDOW = 64
"""Requests judged concurrently with Redis state."""

_API_KINDS: dict[str, ApiKind] = {kind.value: kind for kind in ApiKind}
"""An API kind by its value: `ApiKind(value)` goes through the enum's metaclass (~1 µs)."""

Item = tuple[str, Sequence[tuple[bytes, bytes]], str, bytes, float, str, Decision | None, Tier]
"""One request as the parent sends it: api, headers (credentials blanked), peer, body, request
time, account id, the decision the parent enforced (None when it did not decide) and the tier
the verdict it decided on had before any operator override."""


class Detector:
    """Inline detection in a process of its own, and what it last told its parent about each
    account."""

    def __init__(self, settings: GuardgateSettings) -> None:
        self.observer = Observer(settings)
        self.evicted = [0, 0]
        """Accounts and prompts the engine's state evicted at its caps, not yet told to the
        parent (whose metrics count them)."""
        self.engine = Engine(
            settings, on_evicted=self._accounts_evicted, on_prompts_evicted=self._prompts_evicted
        )
        self.detection = InlineDetection(self.observer, self.engine)
        """The same detection the server runs inline; it keeps the parent's activity record (the
        parent decides, this process records), which the admin API reads from here."""
        self.tokens = TokenCounter(settings.tokenizer_encoding)
        """Unused: answers are metered without counting (the upstream's figures only)."""
        self.failures = 0
        self.stopping = False
        """Set when the process must end: the requests not judged yet are left."""
        self._sent: dict[str, tuple[Verdict, float]] = {}
        # In memory, requests are judged one by one, background work finished in between, as
        # replay judges them. Against Redis each judgement waits on round trips: a window of
        # requests is judged concurrently (as concurrent requests are inline) to keep up.
        self._window = 1 if isinstance(self.engine.store, MemoryStore) else _REDIS_WINDOW

    async def start(self) -> None:
        """Open the engine's store."""
        await self.engine.start()

    async def close(self) -> None:
        """Write what is queued and close the store."""
        await self.engine.close()

    async def observe(self, items: list[Item]) -> list[Verdict]:
        """Run the engine on the requests in order; the verdicts the parent should learn."""
        updates: dict[str, Verdict] = {}
        window = self._window
        if window == 1:
            engine = self.engine
            for item in items:
                if self.stopping:
                    break
                verdict = await self._judge(item)
                if engine.busy:
                    # Background work (re-clustering) finishes before the next request.
                    await engine.drain()
                if verdict is not None and self._news(verdict, item[4]):
                    updates[verdict.account] = verdict
            return list(updates.values())
        for start in range(0, len(items), window):
            if self.stopping:
                break
            chunk = items[start : start + window]
            verdicts = await asyncio.gather(*(self._judge(item) for item in chunk))
            # Background work (re-clustering) finishes before the next requests are judged.
            await self.engine.drain()
            for item, verdict in zip(chunk, verdicts, strict=True):
                if verdict is not None and self._news(verdict, item[4]):
                    updates[verdict.account] = verdict
        return list(updates.values())

    async def _judge(self, item: Item) -> Verdict | None:
        api, headers, peer, body, ts, account, decision, engine_tier = item
        try:
            data = orjson.loads(body)
            if not isinstance(data, dict):
                return None  # the parent answered 400; nothing to observe
            obs = self.observer.observe(_API_KINDS[api], headers, peer, data, ts, account=account)
            verdict = await self.detection.observe(obs)
            if decision is None:
                decision, engine_tier = Decision(verdict), verdict.tier
            self.detection.activity.record(obs, decision, engine_tier=engine_tier)
            return verdict
        except Exception:
            if self.stopping:
                # Stopping (SIGTERM): the requests still being judged are dropped by design,
                # and the store they wait on closes under them.
                return None
            self.failures += 1
            if self.failures == 1 or self.failures % 1000 == 0:
                logger.exception(
                    "guardgate detector: a request could not be observed (%d so far)",
                    self.failures,
                )
            return None

    def _accounts_evicted(self, count: int) -> None:
        self.evicted[0] += count

    def _prompts_evicted(self, count: int) -> None:
        self.evicted[1] += count

    def take_evicted(self) -> tuple[int, int] | None:
        """The evictions not told to the parent yet (and forget them), or None."""
        accounts, prompts = self.evicted
        if not accounts and not prompts:
            return None
        self.evicted = [0, 0]
        return accounts, prompts

    def meter(self, documents: list[tuple[str, bytes]]) -> int:
        """The completion tokens the upstream reported in these JSON answers."""
        total = 0
        for api, body in documents:
            try:
                kind = _API_KINDS[api]
                # Read off the bytes (1.5 µs); parsed (4.7 µs) only when that cannot be done.
                reported = reported_completion_tokens(kind, body)
                if reported is None:
                    meter = UsageMeter(kind, self.tokens, streaming=False, count=False)
                    meter.feed(body)
                    reported = meter.finish().completion_tokens
                total += reported
            except Exception:
                self.failures += 1
                logger.exception("guardgate detector: an answer's usage could not be read")
        return total

    def _news(self, verdict: Verdict, ts: float) -> bool:
        """Whether the parent should hear of `verdict` (remembered as told if so)."""
        sent = self._sent
        last = sent.get(verdict.account)
        if last is not None and not _differs(last[0], verdict) and ts - last[1] < RESEND_AFTER:
            return False
        if len(sent) >= _REMEMBERED:
            sent.clear()  # bounded; forgetting only sends verdicts again
        sent[verdict.account] = (verdict, ts)
        return True

    async def call(self, query: DetectorCall) -> Any:
        """The admin API's reads and actions, answered by this process's detection."""
        detection = self.detection
        match query:
            case ClustersQuery():
                return await detection.clusters()
            case LinksQuery(since=since):
                return await detection.links(since)
            case ForgetCommand(account=account):
                return await detection.forget(account)
            case ReclusterCommand(now=now):
                await detection.recluster(now)
                return None
            case ClusterActivityQuery(clusters=clusters):
                return await detection.cluster_activity(clusters)
            case AccountActivityQuery(accounts=accounts):
                return await detection.account_activity(accounts)
        raise ValueError(f"unknown detector call {query!r}")


def _differs(old: Verdict, new: Verdict) -> bool:
    return (
        old.tier is not new.tier
        or old.cluster != new.cluster
        or old.cluster_size != new.cluster_size
        or old.reasons != new.reasons
        or abs(old.score - new.score) >= _SCORE_STEP
    )


async def serve(sock: socket.socket) -> None:
    """Serve one parent until it closes the socket (or dies: the kernel closes it, and what
    is left to read is at most the socket's buffer) or stops this process (SIGTERM)."""
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    first = await read_frame(reader)
    if not (isinstance(first, tuple) and first[0] == "settings"):
        return
    settings: GuardgateSettings = first[1]
    logging.basicConfig(level=first[2], format="%(asctime)s %(name)s %(levelname)s %(message)s")
    detector = Detector(settings.model_copy(update={"detection": DetectionMode.INLINE}))
    loop = asyncio.get_running_loop()
    reading = asyncio.current_task()
    assert reading is not None
    closing = False

    def stop() -> None:
        # Leave the requests still queued: a server that is shutting down waits for this
        # process, and judging a backlog would only delay it.
        detector.stopping = True
        if not closing:  # a server shutting down closes the socket, then sends SIGTERM
            reading.cancel()

    loop.add_signal_handler(signal.SIGTERM, stop)
    await detector.start()
    keep_heap(HeapPolicy(tenure=settings.heap_tenure))
    try:
        while (message := await read_frame(reader)) is not None:
            assert isinstance(message, tuple)
            if message[0] == "observe":
                updates = await detector.observe(message[1])
                if detector.stopping:
                    break
                if updates:
                    writer.write(encode(("verdicts", updates)))
                tokens = detector.meter(message[2])
                if tokens:
                    writer.write(encode(("tokens", tokens)))
                evicted = detector.take_evicted()
                if evicted is not None:
                    writer.write(encode(("evicted", *evicted)))
                if updates or tokens or evicted:
                    await writer.drain()
            elif message[0] == "call":
                _, call_id, query = message
                try:
                    result = ("result", call_id, True, await detector.call(query))
                except Exception as exc:
                    logger.exception("guardgate detector: %s failed", type(query).__name__)
                    result = ("result", call_id, False, f"{type(exc).__name__}: {exc}")
                writer.write(encode(result))
                await writer.drain()
    except asyncio.CancelledError:
        if not detector.stopping:
            raise
    except ConnectionError:
        pass  # the parent went away while this process answered it: nobody is left to tell
    finally:
        closing = True
        await detector.close()
        writer.close()


def main() -> None:
    """Entry point: the socket's file descriptor is the only argument."""
    # The server stops this process (SIGTERM, handled in `serve`); a Ctrl-C meant for the
    # server reaches its whole process group, and must not end the detector before it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(sock))
