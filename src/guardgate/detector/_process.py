"""`DetectorProcess`: the server's side of detection in a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from guardgate.detection import Judgement
from guardgate.detector._frames import encode, read_frame
from guardgate.detector._worker import Item
from guardgate.detector.calls import DetectorCall
from guardgate.faults import FaultCounter
from guardgate.model import ApiKind, Decision, Tier, Verdict
from guardgate.settings import GuardgateSettings

logger = logging.getLogger("guardgate")

BACKLOG_BYTES = 16 * 1024 * 1024
"""Signals queued for the detector beyond which new ones are dropped (each request counted as
the fault `detector_backlog`) rather than let the verdicts fall ever further behind."""
FLUSH_EVERY = 0.005
"""Seconds signals wait to be sent in one frame: a write per request would cost the server more
than the rest of the request path; a few milliseconds are nothing to a verdict."""
_FLUSH_AT = 512
_DOCUMENT_MAX = 64 * 1024
_DOCUMENT_TAIL = 16 * 1024
"""A JSON answer longer than `_DOCUMENT_MAX` is sent as its last `_DOCUMENT_TAIL` bytes: its usage
is written last."""
_VERDICTS = 2_000_000
"""Accounts whose latest verdict is kept (beyond it the table starts again; the detector sends
an active account's verdict again within seconds)."""
_RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_CALL_TIMEOUT = 30.0
_EXIT_WAIT = 5.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class DetectorError(RuntimeError):
    """The detector process is not running, or an admin call to it failed."""


class DetectorProcess:
    """Starts and feeds the detector process, and keeps the latest verdict on each account.

    `submit` and `verdict` cost a list append and a dict lookup on the request path; signals are
    sent once per event-loop turn, in one frame. When the process stops, requests are answered
    with the verdicts last known (fail open, counted as the fault `detector`) and it is started
    again after a short delay; memory state starts afresh then, Redis state does not.
    """

    def __init__(
        self,
        settings: GuardgateSettings,
        *,
        faults: FaultCounter | None = None,
        on_tokens: Callable[[int], None] | None = None,
        on_evicted: Callable[[int], None] | None = None,
        on_prompts_evicted: Callable[[int], None] | None = None,
        backlog_bytes: int = BACKLOG_BYTES,
    ) -> None:
        self.settings = settings
        self.faults = faults if faults is not None else FaultCounter()
        """Where the process's stops and dropped signals are counted."""
        self.dropped = 0
        """Requests whose signals never reached the detector (backlog full, or not running)."""
        self.restarts = 0
        self._backlog = backlog_bytes
        self._verdicts: dict[str, Verdict] = {}
        self._batch: list[Item] = []
        self._documents: list[tuple[str, bytes]] = []
        self.on_tokens = on_tokens
        """Called with the completion tokens of the answers passed to `meter`, as the detector
        reads them (the deployment adds them to its metrics)."""
        self.on_evicted = on_evicted
        """Called with the accounts the detector's memory state evicted at its cap."""
        self.on_prompts_evicted = on_prompts_evicted
        """Called with the prompts the detector's record of prompts seen evicted at its cap."""
        self._writer: asyncio.StreamWriter | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._restart: asyncio.Task[None] | None = None
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._next_call = 0
        self._running = False
        self._failures = 0

    @property
    def judged(self) -> int:
        """Accounts with a verdict from the detector."""
        return len(self._verdicts)

    @property
    def pid(self) -> int | None:
        """The detector process's id while it runs."""
        return self._process.pid if self._process is not None and self._writer else None

    async def start(self) -> None:
        """Start the detector process."""
        if not self._running:
            self._running = True
            await self._spawn()

    async def close(self) -> None:
        """Send what is queued, let the detector write its state and exit, and wait for it."""
        if not self._running:
            return
        self._running = False
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        self._flush()
        writer, process, reader = self._writer, self._process, self._reader
        if writer is not None:
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()
        if process is not None and process.returncode is None:
            # Stop it now: it writes the links it holds and exits, leaving any backlog unjudged
            # (a shutdown must not wait for it).
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), _EXIT_WAIT)
            except TimeoutError:
                logger.error("guardgate detector did not exit in %g s; killing it", _EXIT_WAIT)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if reader is not None:
            await reader

    def submit(
        self,
        api: ApiKind,
        peer: str,
        body: bytes,
        ts: float,
        judgement: Judgement,
        decision: Decision | None = None,
    ) -> None:
        """Queue one request's signals for the detector (never waits): the account id and the
        credential-free headers of the sender `judgement` holds (the raw key stays in this
        process), with the decision taken on the request and the tier the verdict had before
        any override (for the activity record the detector keeps)."""
        if self._writer is None:
            self._lose(1)
            return
        sender = judgement.sender
        assert sender is not None  # the door's sender, or the one the detection worked out
        batch = self._batch
        if not batch and not self._documents:
            asyncio.get_running_loop().call_later(FLUSH_EVERY, self._flush)
        batch.append(
            (
                api._value_,
                sender.credential_free,
                peer,
                body,
                ts,
                sender.account,
                decision,
                judgement.verdict.tier,
            )
        )
        if len(batch) >= _FLUSH_AT:
            self._flush()

    def meter(self, api: ApiKind, chunks: list[bytes]) -> None:
        """Have the detector read the usage the upstream reported in a JSON answer (its
        `chunks`), for the metrics (`on_tokens`); never waits. Answers are lost, uncounted,
        while the detector is not running or is behind."""
        if self._writer is None:
            return
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if len(body) > _DOCUMENT_MAX:
            body = body[-_DOCUMENT_TAIL:]
        if not self._batch and not self._documents:
            asyncio.get_running_loop().call_later(FLUSH_EVERY, self._flush)
        self._documents.append((api._value_, body))

    def verdict(self, account: str) -> Verdict:
        """The latest verdict on `account`; an account the detector has not judged yet is a
        cluster of its own in the `normal` tier, as the engine judges a first request."""
        known = self._verdicts.get(account)
        if known is None:
            return Verdict(account, account, 0.0, Tier.NORMAL)
        return known

    async def call(self, query: DetectorCall) -> Any:
        """Ask the detector for its state or to re-cluster (see `detector.calls`); the requests
        submitted before are observed first."""
        writer = self._writer
        if writer is None:
            raise DetectorError("the detector process is not running")
        self._flush()
        self._next_call += 1
        call_id = self._next_call
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        writer.write(encode(("call", call_id, query)))
        try:
            return await asyncio.wait_for(future, _CALL_TIMEOUT)
        finally:
            self._calls.pop(call_id, None)

    # --- the process ------------------------------------------------------------------------

    async def _spawn(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        # The detector imports this same guardgate, even when it was put on sys.path at run time.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, env.get("PYTHONPATH"))))
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "guardgate.detector",
                str(child.fileno()),
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        level = logging.getLogger("guardgate").getEffectiveLevel()
        writer.write(encode(("settings", self.settings, level)))
        self._process, self._writer = process, writer
        self._reader = asyncio.get_running_loop().create_task(self._read(reader, writer, process))
        logger.info("guardgate detector process started (pid %d)", process.pid)

    async def _read(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        process: asyncio.subprocess.Process,
    ) -> None:
        try:
            while (message := await read_frame(reader)) is not None:
                assert isinstance(message, tuple)
                if message[0] == "verdicts":
                    table = self._verdicts
                    if len(table) >= _VERDICTS:
                        table.clear()
                    for verdict in message[1]:
                        table[verdict.account] = verdict
                    self._failures = 0
                elif message[0] == "tokens":
                    if self.on_tokens is not None:
                        self.on_tokens(message[1])
                elif message[0] == "evicted":
                    _, accounts, prompts = message
                    if accounts and self.on_evicted is not None:
                        self.on_evicted(accounts)
                    if prompts and self.on_prompts_evicted is not None:
                        self.on_prompts_evicted(prompts)
                elif message[0] == "result":
                    _, call_id, ok, value = message
                    future = self._calls.pop(call_id, None)
                    if future is not None and not future.done():
                        if ok:
                            future.set_result(value)
                        else:
                            future.set_exception(DetectorError(value))
        except Exception:
            if self._running:  # a reset while closing is the detector being stopped
                self.faults.record("detector", logger)
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            for future in self._calls.values():
                if not future.done():
                    future.set_exception(DetectorError("the detector process stopped"))
            self._calls.clear()
            code = await process.wait()
            if self._running:
                self._stopped(code)

    def _stopped(self, code: int) -> None:
        """The process ended while it should run: count it, keep the verdicts known, restart."""
        self.faults.note("detector", logger, f"the detector process exited with code {code}")
        delay = _RESTART_DELAYS[min(self._failures, len(_RESTART_DELAYS) - 1)]
        self._failures += 1
        self._restart = asyncio.get_running_loop().create_task(self._respawn(delay))

    async def _respawn(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self._running:
            return
        try:
            await self._spawn()
            self.restarts += 1
        except Exception:
            self.faults.record("detector", logger)
            self._stopped(-1)

    def _flush(self) -> None:
        batch, documents = self._batch, self._documents
        if not batch and not documents:
            return
        self._batch, self._documents = [], []
        writer = self._writer
        if writer is None:
            self._lose(len(batch))
        elif writer.transport.get_write_buffer_size() > self._backlog:
            self._lose(len(batch), backlog=True)
        else:
            writer.write(encode(("observe", batch, documents)))

    def _lose(self, count: int, *, backlog: bool = False) -> None:
        if not count:
            return
        self.dropped += count
        if backlog:
            what = "the detector is behind: requests' signals dropped"
            self.faults.note("detector_backlog", logger, what, count)
        else:
            what = "the detector is not running: requests' signals dropped"
            self.faults.note("detector", logger, what, count)
