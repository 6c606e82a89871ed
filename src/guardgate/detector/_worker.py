"""The detector process: reads batches of request signals from its parent, runs the engine on
them in order and sends back the verdicts that changed; answers the admin API's store reads."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from guardgate.detector._frames import encode, read_frame
from guardgate.engine import Engine
from guardgate.model import ApiKind, DetectionMode, Verdict
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer

logger = logging.getLogger("guardgate")

RESEND_AFTER = 5.0
"""Seconds of request time after which an unchanged verdict is sent again, so that a parent that
forgot it (its table is bounded) learns it again from the account's next request."""
_SCORE_STEP = 0.01
"""A score change smaller than this alone is not worth a message."""
_REMEMBERED = 1_000_000
"""Accounts whose last sent verdict is remembered (beyond it, verdicts are sent again)."""

Item = tuple[str, Sequence[tuple[bytes, bytes]], str, bytes, float, str]
"""One request as the parent sends it: api, headers (credentials blanked), peer, body, request
time, account id."""


class Detector:
    """The engine of a detector process, and what it last told its parent about each account."""

    def __init__(self, settings: GuardgateSettings) -> None:
        self.observer = Observer(settings)
        self.engine = Engine(settings)
        self.failures = 0
        self._sent: dict[str, tuple[Verdict, float]] = {}

    async def start(self) -> None:
        """Open the engine's store."""
        await self.engine.start()

    async def close(self) -> None:
        """Write what is queued and close the store."""
        await self.engine.close()

    async def observe(self, items: list[Item]) -> list[Verdict]:
        """Run the engine on each request in order; the verdicts the parent should learn."""
        updates: dict[str, Verdict] = {}
        sent = self._sent
        for api, headers, peer, body, ts, account in items:
            try:
                data = json.loads(body)
                if not isinstance(data, dict):
                    continue  # the parent answered 400; nothing to observe
                obs = self.observer.observe(ApiKind(api), headers, peer, data, ts, account=account)
                verdict = await self.engine.observe(obs)
                # Background work (re-clustering) finishes before the next request is judged,
                # as in replay: nothing waits on this process, and its verdicts are then the
                # ones replay gives for the same traffic.
                await self.engine.drain()
            except Exception:
                self.failures += 1
                if self.failures == 1 or self.failures % 1000 == 0:
                    logger.exception("guardgate detector: a request could not be observed")
                continue
            last = sent.get(account)
            if last is None or _differs(last[0], verdict) or ts - last[1] >= RESEND_AFTER:
                if len(sent) >= _REMEMBERED:
                    sent.clear()  # bounded; forgetting only sends verdicts again
                sent[account] = (verdict, ts)
                updates[account] = verdict
        return list(updates.values())

    async def call(self, method: str, args: tuple[Any, ...]) -> Any:
        """The admin API's reads and actions on the engine's state."""
        engine = self.engine
        if method == "clusters":
            return await engine.store.clusters()
        if method == "links":
            return await engine.store.links(*args)
        if method == "recluster":
            await engine.recluster(*args)
            return None
        raise ValueError(f"unknown detector call {method!r}")


def _differs(old: Verdict, new: Verdict) -> bool:
    return (
        old.tier is not new.tier
        or old.cluster != new.cluster
        or old.cluster_size != new.cluster_size
        or old.reasons != new.reasons
        or abs(old.score - new.score) >= _SCORE_STEP
    )


async def serve(sock: socket.socket) -> None:
    """Serve one parent until it closes the socket."""
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    first = await read_frame(reader)
    if not (isinstance(first, tuple) and first[0] == "settings"):
        return
    settings: GuardgateSettings = first[1]
    logging.basicConfig(level=first[2], format="%(asctime)s %(name)s %(levelname)s %(message)s")
    detector = Detector(settings.model_copy(update={"detection": DetectionMode.INLINE}))
    await detector.start()
    try:
        while (message := await read_frame(reader)) is not None:
            assert isinstance(message, tuple)
            if message[0] == "observe":
                updates = await detector.observe(message[1])
                if updates:
                    writer.write(encode(("verdicts", updates)))
                    await writer.drain()
            elif message[0] == "call":
                _, call_id, method, args = message
                try:
                    result = ("result", call_id, True, await detector.call(method, args))
                except Exception as exc:
                    logger.exception("guardgate detector: %s failed", method)
                    result = ("result", call_id, False, f"{type(exc).__name__}: {exc}")
                writer.write(encode(result))
                await writer.drain()
    finally:
        await detector.close()
        writer.close()


def main() -> None:
    """Entry point: the socket's file descriptor is the only argument."""
    # The parent decides when this process ends (it closes the socket): a Ctrl-C or a SIGTERM
    # sent to the whole process group must not lose the links it has yet to write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(sock))
