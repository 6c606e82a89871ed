"""The gateway boards' measure: latency each gateway adds over calling the upstream directly, at
concurrency 1 and 16, side by side in one run, with tracked accounts warmed.

    python benchmarks/bench_board.py [--duration 5] [--accounts 10000,100000] [--state memory,redis]

Rows, each in its own process, all in front of (or mounted in) the same bare upstream app:
- `direct`: the upstream itself (measured first and again last, to show drift);
- `floor`: a 30-line raw-ASGI pass-through over one pooled aiohttp session (judges nothing);
- `sidecar's proxy`: the sidecar's own proxy without the middleware (what judging adds on top);
- `sidecar inline` / `sidecar process`: `guardgate serve` (`GUARDGATE_DETECTION=inline|process`);
- `middleware`: the bare app with `GuardgateMiddleware` mounted (inline detection);
- `LiteLLM proxy`: LiteLLM's proxy from PyPI (`/tmp/litellm-venv`, or `--litellm`).

guardgate rows are measured with the engine tracking each `--accounts` count, made by real
requests with distinct keys through the target in process before the load (see `targets.py`);
for Redis state one Redis is warmed once per count and shared by the rows. Figures: wrk's
p50/p99 at one connection and at 16, req/s at 16, and each latency minus direct's. A non-2xx
answer stops the run. Needs `wrk`, and `redis-server` for the Redis rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench_gateway import LITELLM, Target, litellm, redis_server, run_wrk, target

WAIT = 180.0
"""Seconds a target may take to start (a shared machine under load starts Python slowly)."""


@dataclass(frozen=True)
class Row:
    """One target's figures at one warm count."""

    name: str
    state: str
    accounts: int
    p50_1: float
    p99_1: float
    rps_16: float
    p50_16: float
    p99_16: float


def load(name: str, state: str, accounts: int, t: Target, duration: float) -> Row:
    """Both loads on one running target (after a short warm-up of the connection pools)."""
    run_wrk(t.url, 1, 16)
    one = run_wrk(t.url, duration, 1)
    many = run_wrk(t.url, duration, 16)
    row = Row(name, state, accounts, one.p50_ms, one.p99_ms, many.rps, many.p50_ms, many.p99_ms)
    print(
        f"  {name} [{state}, {accounts}]: c1 p99 {row.p99_1:.2f} ms, c16 {row.rps_16:.0f} req/s",
        flush=True,
    )
    return row


def warm_to(t: Target, accounts: int) -> None:
    """Have the target track `accounts` accounts (it adds what it lacks)."""
    started = time.perf_counter()
    httpx.post(f"{t.url}/_bench/warm?to={accounts}", timeout=3600).raise_for_status()
    print(f"  (warmed to {accounts} in {time.perf_counter() - started:.0f} s)", flush=True)


def guardgate_rows(
    upstream: str, state: str, env: dict[str, str], counts: list[int], args: argparse.Namespace
) -> list[Row]:
    """The guardgate rows with `env`'s state, at every count in `counts`."""
    kinds = [
        ("sidecar inline", "sidecar", {"GUARDGATE_DETECTION": "inline"}),
        ("sidecar process", "sidecar", {"GUARDGATE_DETECTION": "process"}),
        ("middleware", "middleware", {"GUARDGATE_DETECTION": "inline"}),
    ]
    rows: list[Row] = []
    if state == "memory":
        # State lives in each target: warm each one, count after count.
        for name, kind, extra in kinds:
            warm = {**env, **extra, "BENCH_WARM_ACCOUNTS": "0"}
            with target(kind, upstream, env=warm, wait=WAIT) as t:
                for count in counts:
                    warm_to(t, count)
                    rows.append(load(name, state, count, t, args.duration))
        return rows
    # Redis: the first row of each count warms the shared Redis; the others find it warm.
    warmed = 0
    for count in counts:
        for name, kind, extra in kinds:
            warm = {**env, **extra, "BENCH_WARM_ACCOUNTS": "0"}
            with target(kind, upstream, env=warm, wait=WAIT) as t:
                if count > warmed:
                    warm_to(t, count)
                    warmed = count
                rows.append(load(name, state, count, t, args.duration))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--accounts", default="10000,100000")
    parser.add_argument("--state", default="memory,redis")
    parser.add_argument("--litellm", type=Path, default=LITELLM, help="the litellm CLI")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_board needs wrk on the PATH (apt-get install wrk)")
    counts = [int(c) for c in args.accounts.split(",") if c]
    states = [s for s in args.state.split(",") if s]
    load_before = os.getloadavg()
    rows: list[Row] = []
    with target("bare", wait=WAIT) as upstream:
        rows.append(load("direct", "-", 0, upstream, args.duration))
        with target("floor", upstream.url, wait=WAIT) as t:
            rows.append(load("floor", "-", 0, t, args.duration))
        with target("proxy", upstream.url, wait=WAIT) as t:
            rows.append(load("sidecar's proxy", "-", 0, t, args.duration))
        with litellm(upstream.url, args.litellm, wait=WAIT * 2) as t:
            if t is not None:
                rows.append(load("LiteLLM proxy", "-", 0, t, args.duration))
        for state in states:
            if state == "memory":
                rows.extend(guardgate_rows(upstream.url, state, {}, counts, args))
                continue
            with redis_server() as url:
                if url is not None:
                    env = {"GUARDGATE_REDIS_URL": url}
                    rows.extend(guardgate_rows(upstream.url, state, env, counts, args))
        rows.append(load("direct (again)", "-", 0, upstream, args.duration))
    report(rows, args, load_before, os.getloadavg())


def report(
    rows: list[Row],
    args: argparse.Namespace,
    before: tuple[float, float, float],
    after: tuple[float, float, float],
) -> None:
    """The board: figures and what each row adds over direct."""
    direct = rows[0]
    floor = next((r for r in rows if r.name == "floor"), None)
    print(
        f"\n{'row':<18}{'state':<8}{'accounts':>9}{'c1 p50':>8}{'+p50':>7}{'c1 p99':>8}"
        f"{'+p99':>7}{'c16 req/s':>10}{'/floor':>7}{'c16 p50':>8}{'+p50':>7}{'c16 p99':>8}"
        f"{'+p99':>7}"
    )
    for r in rows:
        share = f"{r.rps_16 / floor.rps_16:>7.2f}" if floor else f"{'':>7}"
        print(
            f"{r.name:<18}{r.state:<8}{r.accounts:>9}{r.p50_1:>8.2f}{r.p50_1 - direct.p50_1:>+7.2f}"
            f"{r.p99_1:>8.2f}{r.p99_1 - direct.p99_1:>+7.2f}{r.rps_16:>10.0f}{share}"
            f"{r.p50_16:>8.2f}{r.p50_16 - direct.p50_16:>+7.2f}{r.p99_16:>8.2f}"
            f"{r.p99_16 - direct.p99_16:>+7.2f}"
        )
    print(
        f"\n(wrk -t1, {args.duration:g} s per figure, ms; added = row - direct, measured first; "
        f"{os.cpu_count()} cores; load average {before[0]:.2f} before, {after[0]:.2f} after)"
    )


if __name__ == "__main__":
    main()
