"""Re-score simulated weeks offline: a fast loop for tuning the scorer.

Scoring does not feed back into linking, so one replay's observations and cluster assignments
can be scored again by any version of the `Scorer` in a few seconds, instead of replaying the
whole week (minutes per seed):

    python benchmarks/rescore.py record traffic-1.jsonl rec-1.pickle
    python benchmarks/rescore.py score rec-1.pickle labels-1.jsonl [more pairs...]

`record` replays a `guardgate simulate` week through a deployment at default settings (as
`guardgate replay`) and keeps each request's `Observation`, the cluster the linker put its
sender in, and every cluster-score refresh (when, and the assignment it read). `score` feeds the
observations to a fresh `Scorer` built from the current code and settings
(`GUARDGATE_SCORING_*` in the environment apply), refreshing cluster scores at the recorded
moments, and prints the measures of `bench_eval.py` (accounts flagged, leakage, legitimate
accounts and requests flagged) per population and per adaptive variant.

What it cannot show: a change to linking, to signals or to the gate's policy needs a new
`record`. Final figures come from `bench_eval.py`, never from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest
from guardgate.engine import Engine
from guardgate.model import Observation
from guardgate.protocols.endpoints import api_for_path
from guardgate.replay import parse_line
from guardgate.scoring import Scorer
from guardgate.scoring.factory import scorer_from_settings
from guardgate.settings import load_settings

FLAGGED = frozenset({"suspect", "extractor", "blocked"})


async def _record(traffic: Path) -> dict[str, Any]:
    settings = load_settings(detection="inline", secret="bench-secret")
    clock = [0.0]
    deployment = Deployment.from_settings(settings, lambda: clock[0])
    observations: list[Observation] = []
    clusters: list[str] = []
    refreshes: list[tuple[int, float, dict[str, str], dict[str, int]]] = []
    observe = Engine.observe
    refresh = Scorer.refresh_clusters

    async def observe_recorded(engine: Engine, obs: Observation) -> Any:
        verdict = await observe(engine, obs)
        observations.append(obs)
        clusters.append(verdict.cluster)
        return verdict

    async def refresh_recorded(
        scorer: Scorer, assignment: Any, now: float, degrees: Any = None
    ) -> int:
        refreshes.append((len(observations), now, dict(assignment), dict(degrees or {})))
        return await refresh(scorer, assignment, now, degrees)

    Engine.observe = observe_recorded  # type: ignore[method-assign]
    Scorer.refresh_clusters = refresh_recorded  # type: ignore[method-assign]
    gate = deployment.gate
    await deployment.start()
    lines: list[int] = []
    try:
        with traffic.open("rb") as source:
            for number, raw in enumerate(source):
                record = parse_line(raw)
                api = api_for_path(record.path, settings.path_prefix)
                if api is None:
                    continue
                clock[0] = record.ts
                request = GateRequest(
                    api, record.headers, record.ip, orjson.dumps(record.body), record.body
                )
                before = len(observations)
                await gate.admit(request, hold_stream=False)
                await deployment.detection.drain()
                if len(observations) == before + 1:
                    lines.append(number)
                elif len(observations) != before:
                    raise SystemExit(f"line {number}: {len(observations) - before} observations")
    finally:
        await deployment.close()
        Engine.observe = observe  # type: ignore[method-assign]
        Scorer.refresh_clusters = refresh  # type: ignore[method-assign]
    return {
        "lines": lines,
        "observations": observations,
        "clusters": clusters,
        "refreshes": refreshes,
    }


async def _score(rec: dict[str, Any]) -> dict[int, str]:
    """Line -> tier decided, by a fresh scorer over the recorded observations."""
    settings = load_settings(detection="inline", secret="bench-secret")
    scorer = scorer_from_settings(settings)
    refreshes = rec["refreshes"]
    due = 0
    tiers: dict[int, str] = {}
    for i, (line, obs, cluster) in enumerate(
        zip(rec["lines"], rec["observations"], rec["clusters"], strict=True)
    ):
        while due < len(refreshes) and refreshes[due][0] <= i:
            _, now, assignment, *degrees = refreshes[due]
            await scorer.refresh_clusters(assignment, now, degrees[0] if degrees else None)
            due += 1
        state = await scorer.observe(obs)
        tiers[line] = scorer.judge(obs, state, cluster).tier.value
    return tiers


class Tally:
    """Counts of one group."""

    def __init__(self) -> None:
        self.accounts: set[str] = set()
        self.flagged: set[str] = set()
        self.requests = 0
        self.flagged_requests = 0
        self.before = 0

    def line(self, name: str) -> str:
        acc = len(self.accounts) or 1
        req = self.requests or 1
        return (
            f"{name:28s} {len(self.flagged):5d}/{len(self.accounts):<5d} "
            f"{100 * len(self.flagged) / acc:6.1f}%  req {self.requests:6d} "
            f"flagged {100 * self.flagged_requests / req:6.2f}%  "
            f"before {100 * self.before / req:5.1f}%"
        )


def _tally(labels: Path, tiers: dict[int, str], seed: str, groups: dict[str, Tally]) -> None:
    flagged_since: set[str] = set()
    with labels.open() as f:
        for text in f:
            lab = json.loads(text)
            tier = tiers.get(lab["line"])
            if tier is None:
                continue
            account = seed + lab["account_key"]
            flagged = tier in FLAGGED
            if flagged:
                flagged_since.add(account)
            kind = "attack" if lab["attack"] else "legit"
            names = [f"{kind}:{lab['population']}", f"ALL {kind}"]
            if lab["attack"]:
                names.append(f"variant:{lab.get('variant') or 'base'}")
            for name in names:
                g = groups[name]
                g.accounts.add(account)
                g.requests += 1
                if flagged:
                    g.flagged.add(account)
                    g.flagged_requests += 1
                if account not in flagged_since:
                    g.before += 1


def main() -> int:
    """`record` or `score`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="replay a week and keep what scoring needs")
    rec.add_argument("traffic", type=Path)
    rec.add_argument("out", type=Path)
    sc = sub.add_parser("score", help="re-score recordings against their labels")
    sc.add_argument("pairs", nargs="+", type=Path, help="recording labels [recording labels...]")
    args = parser.parse_args()
    if args.command == "record":
        recorded = asyncio.run(_record(args.traffic))
        with args.out.open("wb") as f:
            pickle.dump(recorded, f, protocol=pickle.HIGHEST_PROTOCOL)
        return 0
    groups: dict[str, Tally] = defaultdict(Tally)
    pairs = args.pairs
    if len(pairs) % 2:
        parser.error("score takes pairs: recording labels")
    for k in range(0, len(pairs), 2):
        with pairs[k].open("rb") as f:
            recorded = pickle.load(f)
        tiers = asyncio.run(_score(recorded))
        _tally(pairs[k + 1], tiers, f"{k}:", groups)
    for name in sorted(groups, key=lambda n: (not n.startswith("ALL"), n)):
        print(groups[name].line(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
