"""Test support: `guardgate simulate` traffic sent through a real sidecar, with its labels."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.admin.admin_client import admin
from tests.gateway import GG_SECRET

from guardgate.cli import main as guardgate_main
from guardgate.signals.account import AccountHasher


@dataclass(frozen=True)
class Simulated:
    """One simulated day: its requests and the population of each account id (HMAC)."""

    lines: list[dict[str, object]]
    population: dict[str, str]
    keys: frozenset[str]
    """The raw API keys used (to check none leaks)."""

    def members_of(self, population: str) -> set[str]:
        """Account ids of one population."""
        return {a for a, p in self.population.items() if p == population}

    def lines_of(self, population: str) -> list[dict[str, object]]:
        """The requests sent by one population's accounts, in order."""
        hasher = AccountHasher(GG_SECRET.encode())
        members = self.members_of(population)
        out = []
        for rec in self.lines:
            auth = str(dict(rec["headers"]).get("authorization", ""))  # type: ignore[call-overload]
            key = auth.removeprefix("Bearer ").strip()
            if key and hasher.hash(b"k:" + key.encode()) in members:
                out.append(rec)
        return out


def simulate(tmp: Path, *, scale: float = 0.05, days: float = 1.0, seed: int = 3) -> Simulated:
    """Run `guardgate simulate` and read what it wrote."""
    out, labels = tmp / "traffic.jsonl", tmp / "labels.jsonl"
    code = guardgate_main(
        [
            "simulate",
            "--out",
            str(out),
            "--labels",
            str(labels),
            "--scale",
            str(scale),
            "--days",
            str(days),
            "--seed",
            str(seed),
            # The admin and detector tests need farms to find, not the adaptive variants that
            # the detection benchmark measures.
            "--no-variants",
        ]
    )
    assert code == 0
    hasher = AccountHasher(GG_SECRET.encode())
    population: dict[str, str] = {}
    keys = set()
    for raw in labels.read_text().splitlines():
        label = json.loads(raw)
        keys.add(label["account_key"])
        population[hasher.hash(b"k:" + label["account_key"].encode())] = label["population"]
    lines = [json.loads(raw) for raw in out.read_text().splitlines()]
    return Simulated(lines, population, frozenset(keys))


class TrafficClock:
    """A sidecar's clock that the traffic moves: each simulated request `step` seconds after
    the one before (about the pace of an idle 2-core machine sending them one by one), so what
    the sidecar sees does not depend on how fast a loaded machine sends the traffic."""

    def __init__(self, step: float = 0.005) -> None:
        self.now = time.time()
        self.step = step

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass on this clock."""
        self.now += seconds


def send(
    url: str, lines: list[dict[str, object]], clock: TrafficClock | None = None
) -> Counter[int]:
    """Send simulated requests to the sidecar at `url` (trusting 127.0.0.1 to forward the
    client address); the count of each status answered. `clock`, the sidecar's, moves one step
    a request."""
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=url, timeout=30) as client:
        for rec in lines:
            if clock is not None:
                clock.wait(clock.step)
            headers = [*dict(rec["headers"]).items(), ("x-forwarded-for", str(rec["ip"]))]  # type: ignore[call-overload]
            res = client.post(str(rec["path"]), json=rec["body"], headers=headers)
            statuses[res.status_code] += 1
    return statuses


LONE_KEY = "sk-lone-harvester-0123456789abcdef"
"""The key of an extractor working alone (`harvest`), linked to no other account."""
HARVEST = (
    "Solve this coding problem and write out your complete reasoning step by step in full "
    "detail before the final answer: implement an interval tree in Python."
)


def harvest(
    url: str,
    key: str = LONE_KEY,
    ip: str = "203.0.113.77",
    *,
    wait: Callable[[float], None] = time.sleep,
) -> None:
    """Harvest chain of thought alone, from an address and a client no other account uses,
    until the engine calls the account an extractor (five requests, paced over two seconds
    apart on the sidecar's clock, each a new item: a prompt repeated verbatim harvests nothing
    new). `wait` lets the seconds pass: a sidecar on a test clock moves it forward."""
    headers = {"authorization": f"Bearer {key}", "x-forwarded-for": ip}
    body = {
        "model": "mock-reasoning-content",
        "max_tokens": 16000,
        "logprobs": True,
    }
    with httpx.Client(base_url=url, timeout=15) as client:
        for i in range(5):
            if i:
                wait(2.1)
            body["messages"] = [{"role": "user", "content": f"{HARVEST} (item {i})"}]
            assert client.post("/v1/chat/completions", json=body, headers=headers).is_success


def attack(
    url: str, sim: Simulated, *, quotas: bool = False, clock: TrafficClock | None = None
) -> None:
    """All traffic once, a re-clustering, then the last part again so clusters have activity
    (`clock`: the sidecar's, moved a step a request).

    Without `quotas` nearly every request must be answered 200; with them, some 429s."""
    statuses = send(url, sim.lines, clock)
    if quotas:
        assert statuses[429] > 0
    else:
        assert statuses[200] > len(sim.lines) * 0.9
    with admin(url) as ops:
        assert ops.post("recluster").status_code == 200
    send(url, sim.lines[-300:], clock)
