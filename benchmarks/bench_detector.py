"""How many requests a second a detector process judges: a deployment with
`GUARDGATE_DETECTION=process` is fed `--rate` requests a second from `--accounts` accounts for
`--seconds`, then asked for its clusters (an admin call is answered after every request sent
before it), so the time until the answer is the time to judge everything.

    python benchmarks/bench_detector.py [--rate 2000] [--accounts 200] [--seconds 6] [--redis]

The feeding loop runs in this process, as a server would, and takes CPU from the same 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest
from guardgate.detector import ProcessDetection
from guardgate.detector.calls import ClustersQuery
from guardgate.model import ApiKind
from guardgate.settings import load_settings
from guardgate.testing import running_redis

BODY = {"model": "m", "messages": [{"role": "user", "content": "Think step by step: 2+2?"}]}


async def feed(args: argparse.Namespace, redis_url: str | None) -> None:
    guard = Deployment.from_settings(
        load_settings(secret="x" * 32, detection="process", redis_url=redis_url)
    )
    await guard.start()
    assert isinstance(guard.detection, ProcessDetection)
    detector = guard.detection.process
    raw = json.dumps(BODY).encode()
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        for _ in range(args.rate // 200):
            headers = [(b"authorization", f"Bearer sk-{sent % args.accounts}".encode())]
            await guard.gate.admit(
                GateRequest(ApiKind.OPENAI_CHAT, headers, "198.51.100.1", raw, BODY)
            )
            sent += 1
        await asyncio.sleep(0.005)
    fed = time.monotonic() - started
    await asyncio.wait_for(detector.call(ClustersQuery()), 600)
    elapsed = time.monotonic() - started
    judged = sent - detector.dropped
    print(
        f"{'Redis' if redis_url else 'memory'} state, {args.accounts} accounts: {sent} requests "
        f"fed in {fed:.1f} s, all judged after {elapsed:.1f} s: {judged / elapsed:.0f} "
        f"requests/s judged, {detector.dropped} dropped"
    )
    await guard.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--redis", action="store_true", help="Redis state (a throwaway server)")
    args = parser.parse_args()
    if args.redis:
        with running_redis() as server:
            asyncio.run(feed(args, server.url))
    else:
        asyncio.run(feed(args, None))


if __name__ == "__main__":
    main()
