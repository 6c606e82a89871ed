"""The middleware-over-upstream throughput ratio, measured by alternation: the mock upstream alone
and with the middleware mounted are started and loaded in turn, round after round, and each
round's ratio is taken between neighbours. On a shared machine whose speed drifts from minute to
minute (here by up to 15% between runs), this is the steadiest estimate of the one ratio the
gateway benchmark's table gives once.

    python benchmarks/bench_ratio.py [--rounds 6] [--duration 4] [--detection process]

Needs `wrk` (apt-get install wrk) and `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import run_wrk, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--detection", choices=("process", "inline"), default="process")
    parser.add_argument("--redis-url", default="", help="Redis state (default: in memory)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_ratio needs wrk on the PATH (apt-get install wrk)")
    env = {"GUARDGATE_DETECTION": args.detection}
    if args.redis_url:
        env["GUARDGATE_REDIS_URL"] = args.redis_url
    alone: list[float] = []
    guarded: list[float] = []
    for i in range(args.rounds):
        for kind, into in (("mock", alone), ("middleware-mock", guarded)):
            with target(kind, env=env if kind != "mock" else None) as t:
                run_wrk(t.url, 1, args.connections)  # warm-up
                into.append(run_wrk(t.url, args.duration, args.connections).rps)
        print(
            f"round {i + 1}: mock {alone[-1]:.0f} req/s, with the middleware "
            f"{guarded[-1]:.0f} req/s, ratio {guarded[-1] / alone[-1]:.3f}",
            flush=True,
        )
    ratios = [g / a for g, a in zip(guarded, alone, strict=True)]
    print(
        f"\nratio (middleware, {args.detection} detection, "
        f"{'Redis' if args.redis_url else 'memory'} state, over the mock upstream): "
        f"median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f} "
        f"over {args.rounds} rounds (wrk -t1 -c{args.connections} -d{args.duration:g}s; "
        f"{os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
