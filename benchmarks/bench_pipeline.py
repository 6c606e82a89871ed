"""Per-request cost of each stage of the pipeline, in process, on simulated traffic.

    python benchmarks/bench_pipeline.py [--days 1] [--scale 0.5] [--no-redis]

Generates a labelled day of traffic with `guardgate simulate`'s generator (many accounts, every
population), then times each stage over all of its requests, in request order, with the
request's own timestamp as the clock:

- parse: `json.loads` of the request body;
- signals: the `Observation` (headers, network, shape, content sketch);
- linking: evidence values and the store touch (memory; Redis);
- scoring: the feature update and the score;
- decide: overrides, policy and the admin activity record (quotas off);
- quota: prompt token count and the quota check (account and cluster RPM/TPM on);
- transform: stripping the reasoning of one JSON answer and of one SSE stream;
- settle: metering one JSON answer and settling it;
- whole: the middleware in front of a minimal ASGI app minus the app alone (no HTTP server).

Redis figures need `redis-server` (started on a free port); round trips are the commands and
pipelines redis-py writes to its sockets, per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio.connection import AbstractConnection

from guardgate.deployment import Deployment
from guardgate.detection import InlineDetection
from guardgate.middleware import GuardgateMiddleware
from guardgate.model import ApiKind, Observation, ReasoningPolicy
from guardgate.protocols.endpoints import api_for_path
from guardgate.protocols.reasoning import response_transformer
from guardgate.replay import ReplayRecord, parse_line
from guardgate.settings import GuardgateSettings, load_settings
from guardgate.simulate import SimulationConfig, simulate
from guardgate.usage import UsageMeter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import redis_server
from targets import _COMPLETION, _STREAM, bare_app

SECRET = "bench-secret-0123456789abcdef"


@dataclass(frozen=True)
class Request:
    """One simulated request, ready for each stage."""

    api: ApiKind
    record: ReplayRecord
    raw: bytes


class RoundTrips:
    """Counts what redis-py writes to its sockets: one per command or pipeline sent."""

    count = 0

    @classmethod
    @contextmanager
    def counting(cls) -> Iterator[None]:
        original = AbstractConnection.send_packed_command

        async def counted(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
            cls.count += 1
            await original(self, *args, **kwargs)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
        try:
            yield
        finally:
            AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def traffic(days: float, scale: float) -> list[Request]:
    """Simulated requests in time order."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traffic.jsonl"
        simulate(SimulationConfig(days=days, scale=scale), path, Path(tmp) / "labels.jsonl")
        lines = path.read_bytes().splitlines()
    out = []
    for line in lines:
        record = parse_line(line)
        api = api_for_path(record.path, "")
        if api is not None:
            raw = json.dumps(record.body, separators=(",", ":")).encode()
            out.append(Request(api, record, raw))
    return out


def per_request(seconds: float, n: int) -> float:
    return seconds / n * 1e6


async def time_stages(
    requests: list[Request], settings: GuardgateSettings
) -> tuple[dict[str, float], float]:
    """µs per request of each stage, and Redis writes per request on the live path (the
    engine's verdict and the decision; concurrent writes share one round trip of latency)."""
    n = len(requests)
    clock = [requests[0].record.ts]
    guard = Deployment.from_settings(settings, lambda: clock[0])
    await guard.start()
    detection = guard.detection
    assert isinstance(detection, InlineDetection)
    out: dict[str, float] = {}

    started = time.perf_counter()
    bodies = [json.loads(r.raw) for r in requests]
    out["parse"] = per_request(time.perf_counter() - started, n)

    observer = guard.observer
    started = time.perf_counter()
    obs = [
        observer.observe(r.api, r.record.headers, r.record.ip, b, r.record.ts)
        for r, b in zip(requests, bodies, strict=True)
    ]
    out["signals"] = per_request(time.perf_counter() - started, n)

    engine = detection.engine
    started = time.perf_counter()
    members = [await engine.linker.observe(o) for o in obs]
    out["linking"] = per_request(time.perf_counter() - started, n)

    scorer = engine.scorer
    started = time.perf_counter()
    for o, m in zip(obs, members, strict=True):
        scorer.judge(o, await scorer.observe(o), m.cluster)
    out["scoring"] = per_request(time.perf_counter() - started, n)

    RoundTrips.count = 0
    verdicts = [await engine.observe(o) for o in obs]  # engine state as live traffic leaves it
    policy, overrides = guard.gate.policy, guard.overrides
    started = time.perf_counter()
    for o, v in zip(obs, verdicts, strict=True):
        clock[0] = o.ts
        # The gate's steps after the verdict: overrides, policy, activity record.
        decision = policy.decide(overrides.apply(v))
        detection.activity.record(o, decision, engine_tier=v.tier)
    out["decide"] = per_request(time.perf_counter() - started, n)
    trips = RoundTrips.count
    await guard.close()

    out["quota"] = await time_quota(requests, bodies, obs, settings)
    out["transform"] = await time_transform(guard, n)
    out["settle"] = await time_settle(guard, verdicts, obs)
    return out, trips / n


async def time_quota(
    requests: list[Request],
    bodies: list[dict[str, Any]],
    obs: list[Observation],
    settings: GuardgateSettings,
) -> float:
    quota_settings = settings.model_copy(
        update={"account_rpm": 10**6, "account_tpm": 10**9, "cluster_rpm": 10**6}
    )
    guard = Deployment.from_settings(quota_settings)
    await guard.start()
    detection = guard.detection
    assert isinstance(detection, InlineDetection)
    verdicts = [await detection.engine.observe(o) for o in obs]
    started = time.perf_counter()
    for r, b, o, v in zip(requests, bodies, obs, verdicts, strict=True):
        tokens = guard.tokens.prompt_tokens(r.api, b)
        outcome = await guard.quotas.check(v, o.api, tokens, hold_stream=False)
        assert outcome.allowed
    elapsed = time.perf_counter() - started
    await guard.close()
    return per_request(elapsed, len(obs))


async def time_transform(guard: Deployment, n: int) -> float:
    """Strip one JSON answer and one stream (the mean of both), as the middleware does."""
    rounds = max(1, n // 4)
    started = time.perf_counter()
    for _ in range(rounds):
        for streaming, pieces in ((False, [_COMPLETION]), (True, _STREAM)):
            transformer = response_transformer(
                ApiKind.OPENAI_CHAT,
                ReasoningPolicy.STRIP,
                streaming=streaming,
                sealer=guard.sealer,
                summariser=guard.summariser,
            )
            assert transformer is not None
            for piece in pieces:
                await transformer.feed(piece)
            await transformer.finish()
    return per_request(time.perf_counter() - started, 2 * rounds)


async def time_settle(guard: Deployment, verdicts: list[Any], obs: list[Observation]) -> float:
    started = time.perf_counter()
    for o in obs[: len(verdicts)]:
        meter = UsageMeter(o.api, guard.tokens, streaming=False)
        meter.feed(_COMPLETION)
        meter.finish()  # without a quota ticket, settling is metering only
    return per_request(time.perf_counter() - started, len(obs))


async def time_whole(requests: list[Request], settings: GuardgateSettings) -> tuple[float, float]:
    """µs per request of the bare app alone and with the middleware, driven without a server.

    The clock is the wall clock here: on the records' own times a day passes in a second and the
    background re-clustering (once a minute of request time) would run a thousand times more
    often than live."""
    middleware = GuardgateMiddleware(bare_app, settings)
    await middleware.deployment.start()

    async def send(message: Any) -> None:
        pass

    async def drive(app: Callable[..., Awaitable[None]]) -> float:
        started = time.perf_counter()
        for r in requests:
            sent = False

            async def receive(body: bytes = r.raw) -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.sleep(3600)
                raise AssertionError("unreachable")

            scope = {
                "type": "http",
                "method": "POST",
                "path": r.record.path,
                "headers": r.record.headers,
                "client": (r.record.ip, 40000),
            }
            await app(scope, receive, send)
        return per_request(time.perf_counter() - started, len(requests))

    bare = await drive(bare_app)
    whole = await drive(middleware)
    await middleware.deployment.close()
    return bare, whole


async def measure(
    requests: list[Request], settings: GuardgateSettings, repeats: int
) -> tuple[dict[str, float], float]:
    """The median over `repeats` runs of each figure (each run on fresh state)."""
    runs: list[dict[str, float]] = []
    trips = 0.0
    for _ in range(repeats):
        if settings.redis_url:
            from redis.asyncio import Redis

            client = Redis.from_url(settings.redis_url)
            await client.flushall()
            await client.aclose()
        with RoundTrips.counting():
            stages, trips = await time_stages(requests, settings)
        bare, whole = await time_whole(requests, settings)
        stages["whole (added)"] = whole - bare
        runs.append(stages)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}, trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    requests = traffic(args.days, args.scale)
    memory = load_settings(secret=SECRET)
    columns = {"memory": asyncio.run(measure(requests, memory, args.repeats))}
    if not args.no_redis:
        with redis_server() as url:
            if url is None:
                print("redis-server not found: Redis column skipped")
            else:
                redis = load_settings(secret=SECRET, redis_url=url)
                columns["redis"] = asyncio.run(measure(requests, redis, args.repeats))
    print(
        f"\n{len(requests)} simulated requests ({args.days:g} day(s), scale {args.scale:g}), "
        f"median of {args.repeats} runs, µs per request"
    )
    names = list(next(iter(columns.values()))[0])
    print(f"{'stage':<16}" + "".join(f"{c:>10}" for c in columns))
    for name in names:
        print(f"{name:<16}" + "".join(f"{v[0][name]:>10.1f}" for v in columns.values()))
    if "redis" in columns:
        print(f"Redis writes per request (verdict + decision): {columns['redis'][1]:.2f}")


if __name__ == "__main__":
    main()
