"""The detection protocol: simulate labelled weeks, replay them, report per population, per
adaptive variant and per campaign's harvest.

    python benchmarks/bench_eval.py --seeds tuning          # seeds 1, 2, 3 (tune on these)
    python benchmarks/bench_eval.py --seeds test            # seeds 101, 102, 103 (report these)
    python benchmarks/bench_eval.py --seeds 7,8 --scale 0.5 --out /tmp/eval.md

Each seed runs `guardgate simulate` (every farm dealt over its adaptive variants), then the public
`guardgate replay --decisions` at default settings (in-memory state, quotas as configured by the
environment), then scores the decisions against the labels. The Markdown report (written to
`benchmarks/results/eval_<seeds>.md` unless `--out` says otherwise) has, pooled over the seeds:

- per legitimate population: accounts flagged (tier suspect or above at least once), requests
  flagged, requests limited (answered 429/403/503 by guardgate), reasoning withheld (share of the
  reasoning tokens its requests would have received that were stripped or summarised);
- per campaign and per adaptive variant (`<campaign>+<knob>`): accounts flagged and leakage
  (requests sent before the account was first flagged);
- the harvest table: per campaign, the answers and the answer and reasoning tokens it received
  un-hardened (answered while its account was not flagged and without reasoning stripped), next
  to what an unguarded API would have given it;
- the weakest population and the worst adaptation, and the aims of issue 17 beside the figures.

Answer and reasoning tokens are the simulator's labelled expectations per request
(`guardgate.simulate.harvest`), not a model's output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench_detection import _cpu

from guardgate.simulate.adapt import KNOBS
from guardgate.simulate.config import TEST_SEEDS, TUNING_SEEDS

FLAGGED = frozenset({"suspect", "extractor", "blocked"})
LIMITED = frozenset({"rate_limited", "quota_unavailable", "blocked"})
WITHHELD = frozenset({"strip_reasoning", "summarise_reasoning"})
VARIANT_ORDER = ("base", *KNOBS, "all")
AIMS = {
    "attack accounts flagged": (">=", 0.98),
    "leakage": ("<=", 0.05),
    "legit accounts flagged": ("<=", 0.003),
    "legit requests flagged": ("<=", 0.001),
    "worst variant's accounts flagged": (">=", 0.95),
}


@dataclass
class Group:
    """Counts for one population, one campaign variant or one campaign."""

    attack: bool = False
    accounts: set[str] = field(default_factory=set)
    flagged: set[str] = field(default_factory=set)
    requests: int = 0
    flagged_requests: int = 0
    before_flag: int = 0
    limited: int = 0
    answered: int = 0
    clean: int = 0
    """Answered while the account was not flagged and nothing was withheld."""
    answer_tokens: int = 0
    reasoning_tokens: int = 0
    clean_answer_tokens: int = 0
    clean_reasoning_tokens: int = 0
    withheld_reasoning: int = 0

    def merge(self, other: Group, prefix: str) -> None:
        """Add `other`'s counts (its accounts namespaced by `prefix`, one seed's)."""
        self.attack = other.attack
        self.accounts |= {prefix + a for a in other.accounts}
        self.flagged |= {prefix + a for a in other.flagged}
        for name in (
            "requests",
            "flagged_requests",
            "before_flag",
            "limited",
            "answered",
            "clean",
            "answer_tokens",
            "reasoning_tokens",
            "clean_answer_tokens",
            "clean_reasoning_tokens",
            "withheld_reasoning",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def recall(self) -> float:
        """Share of accounts flagged."""
        return len(self.flagged) / len(self.accounts) if self.accounts else 0.0

    @property
    def leakage(self) -> float:
        """Share of requests sent before the account's first flag."""
        return self.before_flag / self.requests if self.requests else 0.0


@dataclass
class SeedRun:
    """What one seed produced."""

    seed: int
    requests: int
    simulate_s: float
    replay_s: float
    replay_cpu_s: float
    """CPU seconds the replay process used (wall time swings with other load)."""
    populations: dict[str, Group]
    variants: dict[str, Group]


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes in src)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _run_measured(cmd: list[str], env: dict[str, str], stderr: IO[str]) -> float:
    """Run `cmd` to completion (an error if it fails); the CPU seconds it used, its own (seeds
    may run side by side, so the children's total would mix them)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return usage.ru_utime + usage.ru_stime


def run_seed(seed: int, scale: float, days: float, work: Path, keep: bool) -> SeedRun:
    """Simulate, replay and score one seed."""
    work.mkdir(parents=True, exist_ok=True)
    traffic = work / f"traffic-{seed}.jsonl"
    labels = work / f"labels-{seed}.jsonl"
    decisions = work / f"decisions-{seed}.jsonl"
    env = {**os.environ, "GUARDGATE_SECRET": os.environ.get("GUARDGATE_SECRET", "bench-secret")}
    env.pop("GUARDGATE_REDIS_URL", None)
    cmd = [sys.executable, "-m", "guardgate.cli"]
    began = time.perf_counter()
    subprocess.run(
        [*cmd, "simulate", "--out", str(traffic), "--labels", str(labels),
         "--scale", str(scale), "--days", str(days), "--seed", str(seed)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    simulated = time.perf_counter()
    errors = work / f"replay-{seed}.err"
    with errors.open("w") as err:
        replay_cpu = _run_measured(
            [*cmd, "replay", str(traffic), "--decisions", str(decisions), "--quiet", "--top", "0"],
            env, err,
        )  # fmt: skip
    replayed = time.perf_counter()
    faults = [line for line in errors.read_text().splitlines() if "guardgate fault" in line]
    if faults:
        # A faulting engine fails open: its decisions say nothing about detection.
        raise SystemExit(
            f"seed {seed}: the replay logged engine faults ({faults[-1].strip()}); "
            f"see {errors}. Not scoring a failing detector."
        )
    populations, variants, requests = score(labels, decisions)
    if not keep:
        for path in (traffic, labels, decisions):
            path.unlink(missing_ok=True)
    return SeedRun(
        seed,
        requests,
        simulated - began,
        replayed - simulated,
        replay_cpu,
        populations,
        variants,
    )


def score(labels: Path, decisions: Path) -> tuple[dict[str, Group], dict[str, Group], int]:
    """Groups per population and per `<campaign>+<variant>` from one seed's files."""
    populations: dict[str, Group] = defaultdict(Group)
    variants: dict[str, Group] = defaultdict(Group)
    flagged_since: set[str] = set()
    requests = 0
    with labels.open() as lab_file, decisions.open() as dec_file:
        for lab_text, dec_text in zip(lab_file, dec_file, strict=True):
            lab = json.loads(lab_text)
            d = json.loads(dec_text)
            if d["line"] != lab["line"]:
                raise SystemExit(f"decision line {d['line']} != label line {lab['line']}")
            requests += 1
            account = d["account"]
            flagged_now = d["tier"] in FLAGGED
            if flagged_now:
                flagged_since.add(account)
            actions = set(d["actions"])
            limited = bool(actions & LIMITED)
            withheld = bool(actions & WITHHELD)
            answer, reasoning = lab.get("answer_tokens", 0), lab.get("reasoning_tokens", 0)
            groups = [populations[lab["population"]]]
            if lab["attack"]:
                groups.append(variants[f"{lab['population']}+{lab.get('variant') or 'base'}"])
            for g in groups:
                g.attack = lab["attack"]
                g.accounts.add(account)
                g.requests += 1
                g.answer_tokens += answer
                g.reasoning_tokens += reasoning
                if flagged_now:
                    g.flagged.add(account)
                    g.flagged_requests += 1
                if account not in flagged_since:
                    g.before_flag += 1
                if limited:
                    g.limited += 1
                    continue
                g.answered += 1
                if withheld:
                    g.withheld_reasoning += reasoning
                if account not in flagged_since and not withheld:
                    g.clean += 1
                    g.clean_answer_tokens += answer
                    g.clean_reasoning_tokens += reasoning
    return dict(populations), dict(variants), requests


def pool(runs: list[SeedRun], attr: str) -> dict[str, Group]:
    """Groups of every run added up (accounts kept apart per seed)."""
    out: dict[str, Group] = defaultdict(Group)
    for run in runs:
        for name, g in getattr(run, attr).items():
            out[name].merge(g, f"{run.seed}:")
    return dict(out)


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _tokens(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.0f} M"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    if n >= 10_000:
        return f"{n / 1e3:.0f} k"
    return str(n)


def report(
    runs: list[SeedRun], label: str, scale: float, days: float, commit: str | None = None
) -> str:
    """The Markdown report of `runs`."""
    pops = pool(runs, "populations")
    variants = pool(runs, "variants")
    legit = {k: g for k, g in pops.items() if not g.attack}
    attack = {k: g for k, g in pops.items() if g.attack}
    total = Group()
    for g in legit.values():
        total.merge(g, "")
    hostile = Group(attack=True)
    for g in attack.values():
        hostile.merge(g, "")
    lines = [
        f"# Detection evaluation: {label}",
        "",
        f"Seeds {', '.join(str(r.seed) for r in runs)}; scale {scale}, {days:g} days; commit "
        f"{commit or _commit()}; {_cpu()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}. `guardgate replay` at default settings.",
        "",
        "| seed | requests | simulate s | replay s (wall) | replay CPU s | replay req/CPU-s |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.seed} | {r.requests} | {r.simulate_s:.0f} | {r.replay_s:.0f} | "
            f"{r.replay_cpu_s:.0f} | {r.requests / max(1e-9, r.replay_cpu_s):,.0f} |"
        )
    worst_variant = min(variants.items(), key=lambda kv: kv[1].recall)
    figures = {
        "attack accounts flagged": hostile.recall,
        "leakage": hostile.leakage,
        "legit accounts flagged": total.recall,
        "legit requests flagged": total.flagged_requests / max(1, total.requests),
        "worst variant's accounts flagged": worst_variant[1].recall,
    }
    lines += [
        "",
        "## Against the aims of issue 17",
        "",
        "| measure | figure | aim | met |",
        "|---|---|---|---|",
    ]
    for name, value in figures.items():
        op, aim = AIMS[name]
        met = value >= aim if op == ">=" else value <= aim
        digits = 2 if aim < 0.01 else 1
        lines.append(
            f"| {name} | {_pct(value, digits)} | {op} {_pct(aim, digits)} | "
            f"{'yes' if met else '**no**'} |"
        )
    lines += [
        "",
        "## Legitimate populations",
        "",
        "| population | accounts | flagged accounts | requests | flagged requests | "
        "limited requests | reasoning withheld |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, g in sorted(legit.items(), key=lambda kv: -kv[1].recall):
        lines.append(
            f"| {name} | {len(g.accounts)} | {len(g.flagged)} ({_pct(g.recall)}) | {g.requests} "
            f"| {_pct(g.flagged_requests / g.requests, 2)} | {_pct(g.limited / g.requests, 2)} | "
            f"{_pct(g.withheld_reasoning / g.reasoning_tokens, 2) if g.reasoning_tokens else '-'} |"
        )
    lines.append(
        f"| **all legit** | {len(total.accounts)} | {len(total.flagged)} ({_pct(total.recall, 2)}) "
        f"| {total.requests} | {_pct(total.flagged_requests / max(1, total.requests), 2)} | "
        f"{_pct(total.limited / max(1, total.requests), 2)} | "
        f"{_pct(total.withheld_reasoning / max(1, total.reasoning_tokens), 2)} |"
    )
    lines += [
        "",
        "## Campaigns: accounts flagged (leakage)",
        "",
        "Leakage: the share of a group's requests sent before its account was first flagged. "
        "Each cell is one adaptive variant of the campaign: the knob named alone, `all` every "
        "knob together.",
        "",
        "| campaign | accounts | flagged | leakage | " + " | ".join(VARIANT_ORDER) + " |",
        "|---|---|---|---|" + "---|" * len(VARIANT_ORDER),
    ]
    for name, g in sorted(attack.items(), key=lambda kv: kv[1].recall):
        cells = []
        for v in VARIANT_ORDER:
            vg = variants.get(f"{name}+{v}")
            cells.append(f"{_pct(vg.recall, 0)} ({_pct(vg.leakage, 0)})" if vg else "-")
        lines.append(
            f"| {name} | {len(g.accounts)} | {_pct(g.recall)} | {_pct(g.leakage)} | "
            + " | ".join(cells)
            + " |"
        )
    by_knob: dict[str, Group] = defaultdict(Group)
    for key, g in variants.items():
        by_knob[key.split("+", 1)[1]].merge(g, key + ":")
    cells = [
        f"{_pct(by_knob[v].recall, 0)} ({_pct(by_knob[v].leakage, 0)})" if v in by_knob else "-"
        for v in VARIANT_ORDER
    ]
    lines.append(
        f"| **all campaigns** | {len(hostile.accounts)} | {_pct(hostile.recall)} | "
        f"{_pct(hostile.leakage)} | " + " | ".join(cells) + " |"
    )
    lines += [
        "",
        "## Harvest",
        "",
        "What each campaign received un-hardened (answered while its account was unflagged, "
        "reasoning not withheld), beside what an unguarded API would have given it. Tokens are "
        "the simulator's labelled expectations per request.",
        "",
        "| campaign | requests | answered | answered un-hardened | answer tokens un-hardened "
        "| reasoning tokens un-hardened | reasoning kept from it |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, g in sorted(attack.items(), key=lambda kv: -kv[1].clean_reasoning_tokens):
        lines.append(
            f"| {name} | {g.requests} | {g.answered} | {g.clean} ({_pct(g.clean / g.requests)}) "
            f"| {_tokens(g.clean_answer_tokens)} of {_tokens(g.answer_tokens)} "
            f"| {_tokens(g.clean_reasoning_tokens)} of {_tokens(g.reasoning_tokens)} "
            f"| {_pct(1 - g.clean_reasoning_tokens / max(1, g.reasoning_tokens))} |"
        )
    lines.append(
        f"| **all campaigns** | {hostile.requests} | {hostile.answered} | {hostile.clean} "
        f"({_pct(hostile.clean / max(1, hostile.requests))}) "
        f"| {_tokens(hostile.clean_answer_tokens)} of {_tokens(hostile.answer_tokens)} "
        f"| {_tokens(hostile.clean_reasoning_tokens)} of {_tokens(hostile.reasoning_tokens)} "
        f"| {_pct(1 - hostile.clean_reasoning_tokens / max(1, hostile.reasoning_tokens))} |"
    )
    lines += [
        "",
        "Legitimate populations: reasoning withheld and requests limited are in the first table "
        f"(all legit: {_pct(total.withheld_reasoning / max(1, total.reasoning_tokens), 2)} of "
        f"their reasoning tokens withheld, {_pct(total.limited / max(1, total.requests), 2)} of "
        "their requests limited).",
    ]
    weakest = min(attack.items(), key=lambda kv: kv[1].recall)
    worst_legit = max(legit.items(), key=lambda kv: kv[1].recall)
    base = by_knob.get("base")
    knobs = {k: g for k, g in by_knob.items() if k not in ("base", "all")}
    worst_knob = min(knobs.items(), key=lambda kv: kv[1].recall) if knobs else None
    lines += [
        "",
        "## Weakest points",
        "",
        f"- weakest campaign: **{weakest[0]}**, {_pct(weakest[1].recall)} of accounts flagged, "
        f"leakage {_pct(weakest[1].leakage)};",
        f"- weakest campaign variant: **{worst_variant[0]}**, "
        f"{_pct(worst_variant[1].recall)} flagged, leakage {_pct(worst_variant[1].leakage)};",
    ]
    if worst_knob is not None and base is not None:
        lines.append(
            f"- worst single adaptation: **{worst_knob[0]}**, {_pct(worst_knob[1].recall)} of "
            f"accounts flagged over all campaigns, leakage {_pct(worst_knob[1].leakage)} (as "
            f"designed: {_pct(base.recall)}, leakage {_pct(base.leakage)});"
        )
    every = by_knob.get("all")
    if every is not None:
        lines.append(
            f"- every knob together: {_pct(every.recall)} of accounts flagged, leakage "
            f"{_pct(every.leakage)};"
        )
    lines.append(
        f"- most flagged legitimate population: **{worst_legit[0]}**, "
        f"{_pct(worst_legit[1].recall)} of accounts, "
        f"{_pct(worst_legit[1].flagged_requests / worst_legit[1].requests, 2)} of requests."
    )
    return "\n".join(lines) + "\n"


def _seeds(text: str) -> tuple[str, list[int]]:
    if text == "tuning":
        return "tuning seeds", list(TUNING_SEEDS)
    if text == "test":
        return "test seeds", list(TEST_SEEDS)
    seeds = [int(s) for s in text.split(",") if s.strip()]
    return f"seeds {text}", seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="tuning", help="tuning, test, or a list like 1,2")
    parser.add_argument("--scale", type=float, default=0.5, help="default 0.5 (~72k requests)")
    parser.add_argument("--days", type=float, default=4.0, help="default 4")
    parser.add_argument("--work", type=Path, default=Path("bench-eval"))
    parser.add_argument("--out", type=Path, default=None, help="Markdown report path")
    parser.add_argument("--keep", action="store_true", help="keep traffic, labels, decisions")
    parser.add_argument(
        "--jobs", type=int, default=1, help="seeds run side by side (each a process at a time)"
    )
    parser.add_argument(
        "--commit", default=None, help="the commit measured, when not run from a git checkout"
    )
    args = parser.parse_args()
    label, seeds = _seeds(args.seeds)
    if set(seeds) & set(TEST_SEEDS) and set(seeds) & set(TUNING_SEEDS):
        label += " (mixed tuning and test seeds)"
    name = args.seeds.replace(",", "-")
    out = args.out or Path(__file__).parent / "results" / f"eval_{name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    runs: list[SeedRun] = []
    text = ""
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(run_seed, seed, args.scale, args.days, args.work, args.keep)
            for seed in seeds
        ]
        for future in futures:
            run = future.result()
            print(
                f"seed {run.seed}: {run.requests} requests, simulate {run.simulate_s:.0f} s, "
                f"replay {run.replay_s:.0f} s wall, {run.replay_cpu_s:.0f} s CPU "
                f"({run.requests / max(1e-9, run.replay_cpu_s):,.0f} req/CPU-s)",
                flush=True,
            )
            runs.append(run)
            # Rewritten after every seed: an interrupted protocol still leaves what it finished.
            done = (
                label if len(runs) == len(seeds) else f"{label}, {len(runs)} of {len(seeds)} done"
            )
            text = report(runs, done, args.scale, args.days, args.commit)
            out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
