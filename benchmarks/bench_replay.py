"""`guardgate replay` speed on a simulated week whose coding-agent requests carry long histories.

    python benchmarks/bench_replay.py                        # seed 1, scale 0.5, 4 days
    python benchmarks/bench_replay.py --baseline main --runs 3
    python benchmarks/bench_replay.py --traffic week.jsonl   # a week already written

Simulates a week with `guardgate simulate` (bench_eval's defaults: scale 0.5, 4 days; a fixed
seed), then times `guardgate replay --decisions` as a process, as an operator runs it (default
settings, in-memory state, `GUARDGATE_SECRET=bench-secret`): CPU seconds (user + sys of that
process, from `wait4`), wall seconds, requests per CPU-second and per wall second, peak RSS. The
start-up (imports, settings) is timed apart on an empty file, and requests per CPU-second are
also given without it.

The traffic is described first: the share of coding-agent requests (those carrying the coding
agents' tool set, `guardgate.simulate.agents.CODING_TOOLS`) and their mean body size, beside the
mean over all requests.

`--baseline REV` replays the same week, in turn with this tree (A B A B ...), with the package
of commit `REV` (its `src/` from `git archive`, put first on `PYTHONPATH`), prints the CPU ratio
run by run, and checks that both wrote the same decisions (compared parsed, line by line).
On a shared machine CPU seconds are the figure to quote; wall time depends on the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from bench_detection import _cpu

from guardgate.simulate.agents import CODING_TOOLS

_CODING_TOOL_NAMES = frozenset(tool.name for tool in CODING_TOOLS)
_REPO = Path(__file__).resolve().parent.parent


@dataclass
class Traffic:
    """What the replayed week holds."""

    requests: int
    megabytes: float
    coding: int
    coding_body_bytes: float
    """Mean compact-JSON body size of the coding-agent requests."""
    body_bytes: float
    """Mean over all requests."""


@dataclass
class Run:
    """One replay process."""

    label: str
    cpu: float
    wall: float
    rss_mb: float


def _tool_names(body: dict[str, object]) -> set[str]:
    names = set()
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def describe(traffic: Path) -> Traffic:
    """Count the requests and the coding-agent ones, and their body sizes."""
    requests = coding = coding_bytes = all_bytes = 0
    with traffic.open("rb") as lines:
        for line in lines:
            body = orjson.loads(line)["body"]
            size = len(orjson.dumps(body))
            requests += 1
            all_bytes += size
            if _tool_names(body) >= _CODING_TOOL_NAMES:
                coding += 1
                coding_bytes += size
    return Traffic(
        requests,
        traffic.stat().st_size / 1e6,
        coding,
        coding_bytes / max(1, coding),
        all_bytes / max(1, requests),
    )


def _env(pythonpath: Path | None) -> dict[str, str]:
    env = {**os.environ, "GUARDGATE_SECRET": os.environ.get("GUARDGATE_SECRET", "bench-secret")}
    env.pop("GUARDGATE_REDIS_URL", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def replay_once(label: str, traffic: Path, decisions: Path, pythonpath: Path | None) -> Run:
    """Run `guardgate replay` once; its own CPU and peak RSS from `wait4`."""
    cmd = [sys.executable, "-m", "guardgate.cli", "replay", str(traffic)]
    cmd += ["--decisions", str(decisions), "--quiet", "--top", "0"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=_env(pythonpath), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or b"guardgate fault" in errors:
        raise SystemExit(f"{label}: replay failed or faulted:\n{errors.decode()[-2000:]}")
    return Run(label, usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024)


def same_decisions(a: Path, b: Path) -> tuple[int, int]:
    """(lines, lines whose decisions differ), comparing parsed JSON (the format may differ)."""
    with a.open("rb") as fa, b.open("rb") as fb:
        left, right = fa.read().splitlines(), fb.read().splitlines()
    differ = abs(len(left) - len(right))
    differ += sum(1 for x, y in zip(left, right, strict=False) if json.loads(x) != json.loads(y))
    return max(len(left), len(right)), differ


def baseline_tree(rev: str, into: Path) -> Path:
    """`src/` of commit `rev`, extracted under `into`; the directory to put on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], capture_output=True, check=True, cwd=_REPO
    ).stdout
    tar = into / "baseline.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as tf:
        tf.extractall(into, filter="data")
    return into / "src"


def _commit(rev: str = "HEAD") -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", rev],
            capture_output=True,
            text=True,
            check=True,
            cwd=_REPO,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return rev


def _load() -> str:
    try:
        return ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--days", type=float, default=4.0)
    parser.add_argument("--traffic", type=Path, help="replay this file instead of simulating")
    parser.add_argument("--runs", type=int, default=1, help="replays of each tree (default 1)")
    parser.add_argument("--baseline", help="a commit to compare with, in turn, on the same week")
    parser.add_argument("--work", type=Path, default=Path("bench-replay"))
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    traffic = args.traffic
    if traffic is None:
        traffic = args.work / f"traffic-{args.seed}.jsonl"
        if not traffic.exists():
            subprocess.run(
                [sys.executable, "-m", "guardgate.cli", "simulate", "--out", str(traffic),
                 "--labels", str(args.work / f"labels-{args.seed}.jsonl"),
                 "--scale", str(args.scale), "--days", str(args.days), "--seed", str(args.seed)],
                check=True, env=_env(None), stdout=subprocess.DEVNULL,
            )  # fmt: skip
        week = f"`guardgate simulate --seed {args.seed} --scale {args.scale} --days {args.days}`"
    else:
        week = f"`{traffic}`"
    t = describe(traffic)
    print(f"week: {week}: {t.requests:,} requests, {t.megabytes:,.0f} MB of JSON lines")
    print(
        f"coding-agent requests: {t.coding:,} ({t.coding / t.requests:.1%}), mean body "
        f"{t.coding_body_bytes / 1000:.1f} KB; all requests: mean body {t.body_bytes / 1000:.1f} KB"
    )
    print(
        f"machine: {_cpu()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}; load at start {_load()}"
    )

    empty = args.work / "empty.jsonl"
    empty.write_bytes(b"")
    startup = replay_once("start-up", empty, args.work / "empty-decisions.jsonl", None)

    with tempfile.TemporaryDirectory() as tmp:
        trees: list[tuple[str, Path | None]] = [(f"this tree ({_commit()})", None)]
        if args.baseline:
            label = f"{args.baseline} ({_commit(args.baseline)})"
            trees.append((label, baseline_tree(args.baseline, Path(tmp))))
        runs: dict[str, list[Run]] = {label: [] for label, _ in trees}
        outputs = {label: args.work / f"decisions-{i}.jsonl" for i, (label, _) in enumerate(trees)}
        for _ in range(args.runs):
            for label, path in trees:
                run = replay_once(label, traffic, outputs[label], path)
                runs[label].append(run)
                print(
                    f"  {label}: {run.cpu:.1f} s CPU, {run.wall:.1f} s wall, "
                    f"{t.requests / run.cpu:,.0f} req/CPU-s (load {_load()})",
                    flush=True,
                )

    print()
    print(
        "| code | runs | CPU s (median) | wall s (median) | requests per CPU-s | "
        "per CPU-s without start-up | per wall s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, done in runs.items():
        cpu = statistics.median(r.cpu for r in done)
        wall = statistics.median(r.wall for r in done)
        print(
            f"| {label} | {len(done)} | {cpu:.1f} | {wall:.1f} | {t.requests / cpu:,.0f} | "
            f"{t.requests / max(1e-9, cpu - startup.cpu):,.0f} | {t.requests / wall:,.0f} | "
            f"{max(r.rss_mb for r in done):.0f} |"
        )
    print(f"start-up (an empty file): {startup.cpu:.2f} s CPU")
    if args.baseline:
        this, base = (runs[label] for label, _ in trees)
        ratios = [a.cpu / b.cpu for a, b in zip(this, base, strict=True)]
        print(
            "CPU this/baseline, run by run: "
            + ", ".join(f"{r:.3f}" for r in ratios)
            + f" (median {statistics.median(ratios):.3f})"
        )
        lines, differ = same_decisions(*outputs.values())
        print(f"decisions: {lines:,} lines, {differ} differ (compared parsed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
