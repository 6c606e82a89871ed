"""The engine's cost per request, by part: the gate with inline detection (what a sidecar with
inline detection, or a detector process, runs for every request), in process, memory state.

    python benchmarks/bench_engine.py [--accounts 10000] [--requests 3000] [--callgrind]

Two workloads, each after `--accounts` accounts were made by real requests (distinct keys,
user agents and addresses, as `targets.py`'s warm-up makes them for the latency board):
- `board`: the latency board's request again and again from one key (what wrk sends);
- `spread`: the same request from the warmed accounts in turn (a request per account), so
  every request touches another account's state.

CPU time (`time.process_time`) per request for the whole `Gate.admit`, then, in a second run of
as many requests with timers wrapped around the parts, each part (signals, linking, scoring,
the activity record; the gate and its glue are the rest: the timers' own cost, about a µs a
part, lands in the parts). With `--callgrind` the same loop runs under valgrind's callgrind, counted
only while the measured requests run (the warm-up is not instrumented): instructions per
request, which the load of a shared machine does not change.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import BODY
from bench_instructions import callgrind_child, callgrind_total

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest, InlineDetection
from guardgate.model import ApiKind
from guardgate.settings import load_settings

_RAW = json.dumps(BODY).encode()
_WARM = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": "Hi"}]}
_WARM_RAW = json.dumps(_WARM).encode()
_CONTROL = "callgrind_control"


def warm_request(i: int) -> GateRequest:
    """Account `i`'s request, as `targets.warmed` sends it."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer sk-warm-%08d" % i),
        (b"user-agent", b"OpenAI/Python 1.%d.0" % (i % 40)),
    ]
    peer = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    return GateRequest(ApiKind.OPENAI_CHAT, headers, peer, _WARM_RAW, dict(_WARM))


def board_request(i: int) -> GateRequest:
    """The board's request (one key, one peer), with headers as uvicorn hands them over."""
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer sk-bench-0001"),
        (b"content-length", str(len(_RAW)).encode()),
    ]
    return GateRequest(ApiKind.OPENAI_CHAT, headers, "127.0.0.1", _RAW, json.loads(_RAW))


def spread_request(i: int, accounts: int) -> GateRequest:
    """The board's request from warmed account `i % accounts`."""
    n = i % accounts
    warm = warm_request(n)
    headers = [*warm.headers, (b"content-length", str(len(_RAW)).encode())]
    return GateRequest(ApiKind.OPENAI_CHAT, headers, warm.peer, _RAW, json.loads(_RAW))


class Clock:
    """Request time: 10 ms a request, so that a run spans the engine's timed work."""

    def __init__(self) -> None:
        self.now = 1_793_577_600.0

    def __call__(self) -> float:
        return self.now


Timers = dict[str, float]


def _timed(obj: Any, name: str, part: str, timers: Timers, *, coroutine: bool) -> None:
    real = getattr(obj, name)
    clock = time.process_time
    if coroutine:

        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return await real(*args, **kwargs)
            finally:
                timers[part] += clock() - started

        setattr(obj, name, wrapped_async)
    else:

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return real(*args, **kwargs)
            finally:
                timers[part] += clock() - started

        setattr(obj, name, wrapped)


PARTS = ("signals", "linking", "scoring", "activity record")


def instrument(deployment: Deployment) -> Timers:
    """Timers around each part of inline detection."""
    detection = deployment.detection
    assert isinstance(detection, InlineDetection)
    timers = dict.fromkeys(PARTS, 0.0)
    engine = detection.engine
    _timed(detection.observer, "observe", "signals", timers, coroutine=False)
    _timed(engine.linker, "observe", "linking", timers, coroutine=True)
    _timed(engine.scorer, "observe", "scoring", timers, coroutine=True)
    _timed(engine.scorer, "judge", "scoring", timers, coroutine=False)
    _timed(detection.activity, "record", "activity record", timers, coroutine=False)
    return timers


async def run(
    deployment: Deployment, clock: Clock, make: Callable[[int], GateRequest], n: int
) -> None:
    gate = deployment.gate
    for i in range(n):
        clock.now += 0.01
        await gate.admit(make(i))


async def workload(name: str, args: argparse.Namespace, callgrind: bool) -> dict[str, float]:
    """µs (or instructions) per request of `name`, whole and by part."""
    clock = Clock()
    settings = load_settings(detection="inline", secret="bench-secret-0123456789")
    deployment = Deployment.from_settings(settings, clock)
    await deployment.start()
    try:
        await run(deployment, clock, warm_request, args.accounts)
        make: Callable[[int], GateRequest] = board_request
        if name == "spread":

            def make(i: int) -> GateRequest:
                return spread_request(i, args.accounts)

        await run(deployment, clock, make, min(args.requests, 500))  # warm the caches
        await deployment.detection.drain()
        gc.collect()
        if callgrind:
            pid = str(os.getpid())
            # Blocking on purpose: nothing on the loop runs while callgrind is told.
            subprocess.run([_CONTROL, "--instr=on", pid], check=True, capture_output=True)  # noqa: ASYNC221
            await run(deployment, clock, make, args.requests)
            subprocess.run([_CONTROL, "--dump", pid], check=True, capture_output=True)  # noqa: ASYNC221
            subprocess.run([_CONTROL, "--instr=off", pid], check=True, capture_output=True)  # noqa: ASYNC221
            return {}
        started = time.process_time()
        await run(deployment, clock, make, args.requests)
        whole = time.process_time() - started
        timers = instrument(deployment)
        await run(deployment, clock, make, args.requests)
        out = {"whole": whole / args.requests * 1e6}
        for part, spent in timers.items():
            out[part] = spent / args.requests * 1e6
        out["gate and the rest"] = out["whole"] - sum(timers.values()) / args.requests * 1e6
        return out
    finally:
        await deployment.close()


def count(name: str, args: argparse.Namespace) -> float:
    """Instructions per request of workload `name` under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        callgrind_child(
            __file__,
            [name, "--accounts", str(args.accounts), "--requests", str(args.requests)],
            {"GUARDGATE_HEAP_TENURE": "0"},
            tmp,
            f"callgrind run of {name!r}",
            "--instr-atstart=no",
        )
        # The dumps asked for, not the exit's.
        total = sum(callgrind_total(dump) or 0 for dump in Path(tmp).glob("callgrind.out.*.*"))
        if args.keep:
            for dump in Path(tmp).glob("callgrind.out.*"):
                (Path(args.keep) / f"callgrind.engine-{name}.{dump.name}").write_bytes(
                    dump.read_bytes()
                )
        return total / args.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    parser.add_argument("--keep", default="", help="copy the callgrind dumps into this folder")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("GUARDGATE_HEAP_TENURE", "0")
    if args.child:
        asyncio.run(workload(args.child, args, callgrind=True))
        return
    for name in ("board", "spread"):
        if args.callgrind:
            print(
                f"{name}: {count(name, args) / 1e3:,.1f} k instructions a request "
                f"({args.accounts:,} accounts warmed, {args.requests} requests)",
                flush=True,
            )
            continue
        figures = asyncio.run(workload(name, args, callgrind=False))
        parts = ", ".join(f"{k} {v:.1f}" for k, v in figures.items() if k != "whole")
        print(
            f"{name}: {figures['whole']:.1f} µs CPU a request ({parts}; "
            f"{args.accounts:,} accounts warmed, {args.requests} requests)",
            flush=True,
        )


if __name__ == "__main__":
    main()
