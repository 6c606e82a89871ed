"""Detection benchmark: simulate a labelled week, replay it, score the decisions per population.

For the evaluation protocol (tuning and test seeds, adaptive variants, harvest) see
`bench_eval.py`; this script keeps the single-seed table and the score plot.

    python benchmarks/bench_detection.py [--scale 1.0] [--days 7] [--seed 1] [--out DIR]

Prints, per population: accounts flagged (tier suspect or extractor at least once), for attacks the
share of requests answered before their account was first flagged (leakage), for legitimate
populations the share of requests made while flagged or after, and cluster purity (the share of
clustered requests whose cluster's majority population is their own). Writes `scores.png`: the
mean score per population over time. Needs matplotlib (`pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from guardgate.simulate import ATTACK_POPULATIONS

FLAGGED = {"suspect", "extractor", "blocked"}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-detection"))
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    traffic, labels, decisions = (
        out / "traffic.jsonl",
        out / "labels.jsonl",
        out / "decisions.jsonl",
    )
    env = {**os.environ, "GUARDGATE_SECRET": os.environ.get("GUARDGATE_SECRET", "bench-secret")}
    env.pop("GUARDGATE_REDIS_URL", None)
    cmd = [sys.executable, "-m", "guardgate.cli"]
    subprocess.run(
        [*cmd, "simulate", "--out", str(traffic), "--labels", str(labels),
         "--scale", str(args.scale), "--days", str(args.days), "--seed", str(args.seed)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    started = time.perf_counter()
    subprocess.run(
        [*cmd, "replay", str(traffic), "--decisions", str(decisions), "--quiet", "--top", "0"],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    replay_seconds = time.perf_counter() - started
    table, series = score(labels, decisions, traffic)
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"scale {args.scale}, {args.days} days, seed {args.seed}; replay {replay_seconds:.1f} s")
    print(table)
    plot(series, out / "scores.png")
    print(f"plot: {out / 'scores.png'}")
    return 0


def score(labels: Path, decisions: Path, traffic: Path) -> tuple[str, dict[str, list[Any]]]:
    """The per-population table and the score series for the plot."""
    times: list[float] = []
    with traffic.open("rb") as f:
        for raw in f:
            # The timestamp is the first key of every simulated line: avoid parsing the body.
            head = raw[: raw.index(b",")]
            times.append(float(head.split(b":", 1)[1]))
    pop_of: list[str] = []
    attack: dict[str, bool] = {}
    with labels.open() as f:
        for text in f:
            lab = json.loads(text)
            pop_of.append(lab["population"])
            attack[lab["population"]] = lab["attack"]
    accounts: dict[str, set[str]] = defaultdict(set)
    flagged_accounts: dict[str, set[str]] = defaultdict(set)
    requests: Counter[str] = Counter()
    exposed: Counter[str] = Counter()
    """Attack: requests answered before the account was first flagged; legit: requests made
    once the account had been flagged (whatever their own verdict)."""
    hit: Counter[str] = Counter()
    """Requests whose own verdict was flagged (what a legitimate user notices)."""
    flagged_so_far: set[str] = set()
    cluster_pops: dict[str, Counter[str]] = defaultdict(Counter)
    clustered: list[tuple[str, str]] = []
    series: dict[str, list[Any]] = defaultdict(list)
    with decisions.open() as f:
        for text in f:
            d = json.loads(text)
            i = d["line"]
            pop, account = pop_of[i], d["account"]
            accounts[pop].add(account)
            requests[pop] += 1
            now_flagged = d["tier"] in FLAGGED
            if now_flagged:
                hit[pop] += 1
                flagged_so_far.add(account)
                flagged_accounts[pop].add(account)
            if attack[pop]:
                exposed[pop] += account not in flagged_so_far
            else:
                exposed[pop] += account in flagged_so_far
            if d["cluster"] != account:
                cluster_pops[d["cluster"]][pop] += 1
                clustered.append((d["cluster"], pop))
            series[pop].append((times[i], d["score"]))
    majority = {c: cnt.most_common(1)[0][0] for c, cnt in cluster_pops.items()}
    pure = Counter(pop for c, pop in clustered if majority[c] == pop)
    total_clustered = Counter(pop for _, pop in clustered)
    rows = [
        "| population | attack | accounts | flagged | requests | leaked (attack) / flagged "
        "(legit) requests | legit: requests after first flag | clustered requests "
        "| cluster purity |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sums: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    shown = {pop: exposed[pop] if attack[pop] else hit[pop] for pop in accounts}
    for pop in sorted(accounts, key=lambda p: (not attack[p], p)):
        n_acc, n_flag = len(accounts[pop]), len(flagged_accounts[pop])
        is_attack = attack[pop]
        s = sums[is_attack]
        s["acc"] += n_acc
        s["flag"] += n_flag
        s["req"] += requests[pop]
        s["exp"] += exposed[pop]
        s["hit"] += hit[pop]
        tc = total_clustered[pop]
        purity = f"{pure[pop] / tc:.0%}" if tc else "-"
        after = "" if is_attack else f"{exposed[pop] / requests[pop]:.2%}"
        rows.append(
            f"| {pop} | {'yes' if is_attack else 'no'} | {n_acc} | {n_flag} ({n_flag / n_acc:.1%})"
            f" | {requests[pop]} | {shown[pop] / requests[pop]:.2%} | {after}"
            f" | {tc / requests[pop]:.0%}"
            f" | {purity} |"
        )
    a, legit = sums[True], sums[False]
    if a["acc"] and legit["acc"]:
        rows.append(
            f"| **all attacks** | yes | {a['acc']} | {a['flag']} ({a['flag'] / a['acc']:.1%}) | "
            f"{a['req']} | {a['exp'] / a['req']:.2%} leaked | | | |"
        )
        rows.append(
            f"| **all legit** | no | {legit['acc']} | {legit['flag']} "
            f"({legit['flag'] / legit['acc']:.2%}) | {legit['req']} | "
            f"{legit['hit'] / legit['req']:.2%} flagged | {legit['exp'] / legit['req']:.2%} | | |"
        )
        rows.append(
            f"\ntargets: attack accounts flagged >= 95% ({a['flag'] / a['acc']:.1%}), "
            "leakage <= 10%"
            f" ({a['exp'] / a['req']:.1%}), legit accounts <= 1% "
            f"({legit['flag'] / legit['acc']:.2%}), legit requests <= 0.5% "
            f"({legit['hit'] / legit['req']:.2%} flagged; {legit['exp'] / legit['req']:.2%} made "
            "after their account's first flag)"
        )
    return "\n".join(rows), series


def plot(series: dict[str, list[Any]], path: Path) -> None:
    """Mean score per population per hour."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    t0 = min(points[0][0] for points in series.values() if points)
    fig, ax = plt.subplots(figsize=(11, 6))
    colours = [plt.get_cmap("tab20")(k / 20) for k in range(20)]
    for k, (pop, points) in enumerate(sorted(series.items())):
        hourly: dict[int, list[float]] = defaultdict(list)
        for ts, s in points:
            hourly[int((ts - t0) // 3600)].append(s)
        hours = sorted(hourly)
        means = [sum(hourly[h]) / len(hourly[h]) for h in hours]
        attack = pop in ATTACK_POPULATIONS
        ax.plot(
            [h / 24 for h in hours],
            means,
            label=pop,
            color=colours[k % len(colours)],
            linestyle="-" if attack else "--",
            linewidth=1.6 if attack else 1.0,
        )
    ax.set_xlabel("day")
    ax.set_ylabel("mean score of the hour's requests")
    ax.set_ylim(0, 1)
    ax.set_title("guardgate extraction score per population (solid: attacks, dashed: legit)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
