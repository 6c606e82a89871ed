"""Request-path benchmark: what the middleware adds per request in process, with the detector
process (`GUARDGATE_DETECTION=process`), in front of the bare app and of the mock upstream, and
what each part of the request path costs (each removed in turn).

    python benchmarks/bench_request_path.py [--requests 500] [--repeats 40]

One request (the gateway benchmark's) is driven through the ASGI app in a loop, without a server:
added µs = (middleware + app) - app, the fastest of `--repeats` short runs of each, side by side.
The parts are removed by replacing them with their first result (a look-up of a cached value),
which tells how much of the added cost each one is; guardgate does not run that way. Last, the
verdict lag: how long a new account's first request takes to come back judged from the detector
under load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import BODY as GATEWAY_BODY
from targets import bare_app

from guardgate import exchange
from guardgate.deployment import Deployment
from guardgate.detection import GateRequest
from guardgate.detector import ProcessDetection
from guardgate.middleware import GuardgateMiddleware
from guardgate.model import ApiKind
from guardgate.settings import load_settings
from guardgate.testing import create_mock_upstream

BODY = json.dumps(GATEWAY_BODY).encode()
HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"content-type", b"application/json"),
    (b"authorization", b"Bearer sk-bench-0001"),
    (b"content-length", str(len(BODY)).encode()),
]
App = Callable[..., Any]


async def drive(app: App, n: int) -> float:
    """µs per request of `app` over `n` requests (the loop yields every 8, as a server would)."""

    async def send(message: Any) -> None:
        pass

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    started = time.perf_counter()
    for i in range(n):
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": list(HEADERS),
            "client": ("127.0.0.1", 50000),
            "query_string": b"",
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 8080),
            "root_path": "",
        }
        await app(scope, receive, send)
        if i % 8 == 7:
            await asyncio.sleep(0)
    return (time.perf_counter() - started) / n * 1e6


def _cached(obj: Any, name: str) -> None:
    """Replace the method `name` of `obj` by its first result."""
    real = getattr(obj, name)
    memo: list[Any] = []

    def first(*args: Any, **kwargs: Any) -> Any:
        if not memo:
            memo.append(real(*args, **kwargs))
        return memo[0]

    setattr(obj, name, first)


def _no_metering(mw: GuardgateMiddleware) -> None:
    async def settle(self: exchange.Exchange) -> None:
        pass

    exchange.Exchange._watch = lambda self, message: None  # type: ignore[method-assign]
    exchange.Exchange._settle = settle  # type: ignore[method-assign]


def _no_json(mw: GuardgateMiddleware) -> None:
    parsed = json.loads(BODY)
    vars(exchange)["_parse_json"] = lambda body: parsed


def _no_metrics(mw: GuardgateMiddleware) -> None:
    metrics = mw.deployment.metrics
    metrics.request = lambda *args: None  # type: ignore[method-assign]
    metrics.tokens = lambda *args: None  # type: ignore[method-assign]
    metrics.added_latency = types.SimpleNamespace(observe=lambda seconds: None)  # type: ignore[assignment]


PARTS: dict[str, Callable[[GuardgateMiddleware], None]] = {
    "account, decision and signals hand-over": lambda mw: _cached(mw.deployment.gate, "admit_now"),
    "JSON parse": _no_json,
    "metrics": _no_metrics,
    "usage metering": _no_metering,
}


async def added(app: App, part: str | None, args: argparse.Namespace) -> float:
    """Median µs the middleware adds to `app`, with `part` removed when given."""
    watch, settle, parser = (
        exchange.Exchange._watch,
        exchange.Exchange._settle,
        vars(exchange)["_parse_json"],
    )
    mw = GuardgateMiddleware(app, load_settings(detection="process"))
    await mw.deployment.start()
    try:
        if part == "all":
            for remove in PARTS.values():
                remove(mw)
        elif part is not None:
            PARTS[part](mw)
        for _ in range(2):
            await drive(mw, 2000)
            await drive(app, 2000)
        # Many short runs side by side, and the fastest of each: what else runs on the machine
        # only ever adds time, so the minimum is the steadiest estimate.
        bare, guarded = [], []
        for _ in range(args.repeats):
            bare.append(await drive(app, args.requests))
            guarded.append(await drive(mw, args.requests))
        return min(guarded) - min(bare)
    finally:
        await mw.deployment.close()
        exchange.Exchange._watch, exchange.Exchange._settle = watch, settle  # type: ignore[method-assign]
        vars(exchange)["_parse_json"] = parser


async def verdict_lag(rate: int = 2000, samples: int = 50) -> list[float]:
    """Milliseconds from a new account's first request to its verdict from the detector, while
    other accounts send about `rate` requests a second (sorted)."""
    guard = Deployment.from_settings(load_settings(detection="process"))
    await guard.start()
    assert isinstance(guard.detection, ProcessDetection)
    detector = guard.detection.process
    body = json.loads(BODY)

    async def observe(key: str) -> None:
        headers = [(b"authorization", f"Bearer {key}".encode())]
        await guard.gate.admit(
            GateRequest(ApiKind.OPENAI_CHAT, headers, "198.51.100.9", BODY, body)
        )

    async def load() -> None:
        sent = 0
        while True:
            for _ in range(rate // 100):
                await observe(f"sk-load-{sent % 50}")
                sent += 1
            await asyncio.sleep(0.01)

    background = asyncio.create_task(load())
    await asyncio.sleep(1)
    lags = []
    for i in range(samples):
        judged = detector.judged
        started = time.perf_counter()
        await observe(f"sk-new-{i}")
        while detector.judged == judged:  # noqa: ASYNC110 - a count the reader task raises
            await asyncio.sleep(0.0005)
        lags.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)
    background.cancel()
    await guard.close()
    return sorted(lags)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per run")
    parser.add_argument("--repeats", type=int, default=40, help="runs of each, side by side")
    args = parser.parse_args()
    os.environ.setdefault("GUARDGATE_SECRET", "bench-secret-0123456789")
    apps: dict[str, App] = {"bare app": bare_app, "mock upstream": create_mock_upstream()}
    for name, app in apps.items():
        app_us = await drive(app, args.requests)
        print(f"{name} ({app_us:.0f} µs a request alone): the middleware adds", flush=True)
        whole = await added(app, None, args)
        print(f"  {whole:6.1f} µs  (detector process; nothing removed)", flush=True)
        for part in (*PARTS, "all"):
            cost = await added(app, part, args)
            label = "every part above" if part == "all" else part
            print(f"  {cost:6.1f} µs  without {label}: it costs {whole - cost:.1f}", flush=True)
    lags = await verdict_lag()
    print(
        f"verdict lag (a new account's first request to its verdict, other accounts sending "
        f"~2000 requests/s): median {statistics.median(lags):.1f} ms, "
        f"p90 {lags[int(len(lags) * 0.9)]:.1f} ms, max {lags[-1]:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
