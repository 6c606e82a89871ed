"""Run every population, then write the traffic and its labels in time order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from guardgate.simulate.attack_crowds import (
    agent_day_farm,
    agent_farm,
    low_slow_farm,
    reseller_relay,
)
from guardgate.simulate.attack_farms import (
    datacenter_farm,
    hydra_farm,
    model_hopper,
    stealth_farm,
)
from guardgate.simulate.attack_solo import cot_harvester, single_scraper
from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.emitter import PopulationStats
from guardgate.simulate.legit_coding import agent_crowd, agent_team, coding_agent
from guardgate.simulate.legit_crowds import (
    campus_classes,
    carrier_crowd,
    eval_launch,
    gateway_key,
    office_tool,
    reasoning_power,
    synthetic_data,
    writers,
)
from guardgate.simulate.legit_orgs import chat_app, corporate_nat, eval_runner, saas_template
from guardgate.simulate.legit_people import casual, heavy_user, university_class
from guardgate.simulate.world import World

POPULATIONS: tuple[tuple[str, Callable[[World], None]], ...] = (
    ("casual", casual),
    ("heavy_user", heavy_user),
    ("chat_app", chat_app),
    ("saas_template", saas_template),
    ("coding_agent", coding_agent),
    ("university_class", university_class),
    ("corporate_nat", corporate_nat),
    ("eval_runner", eval_runner),
    ("reasoning_power", reasoning_power),
    ("campus_classes", campus_classes),
    ("office_tool", office_tool),
    ("gateway_key", gateway_key),
    ("writers", writers),
    ("synthetic_data", synthetic_data),
    ("eval_launch", eval_launch),
    ("carrier_crowd", carrier_crowd),
    ("agent_crowd", agent_crowd),
    ("agent_team", agent_team),
    ("hydra_farm", hydra_farm),
    ("stealth_farm", stealth_farm),
    ("cot_harvester", cot_harvester),
    ("single_scraper", single_scraper),
    ("model_hopper", model_hopper),
    ("low_slow_farm", low_slow_farm),
    ("agent_farm", agent_farm),
    ("agent_day_farm", agent_day_farm),
    ("reseller_relay", reseller_relay),
    ("datacenter_farm", datacenter_farm),
)
ATTACK_POPULATIONS = frozenset(
    {
        "hydra_farm",
        "stealth_farm",
        "cot_harvester",
        "single_scraper",
        "model_hopper",
        "low_slow_farm",
        "agent_farm",
        "agent_day_farm",
        "reseller_relay",
        "datacenter_farm",
    }
)

_BUFFER = 1 << 20


@dataclass(frozen=True)
class SimulationResult:
    """What a run wrote: totals and per-population statistics."""

    requests: int
    attack_requests: int
    populations: tuple[PopulationStats, ...]
    drawn: dict[str, dict[str, object]] = field(default_factory=dict)
    """What each population drew for this seed (`World.drawn`)."""

    @property
    def attack_share(self) -> float:
        """Fraction of requests sent by attack populations."""
        return self.attack_requests / self.requests if self.requests else 0.0


def simulate(config: SimulationConfig, traffic: Path, labels: Path) -> SimulationResult:
    """Generate the traffic of `config` into `traffic` and its labels into `labels`."""
    world = World.create(config)
    for _, populate in POPULATIONS:
        populate(world)
    lines = world.emitter.sorted_lines()
    with (
        traffic.open("w", encoding="utf-8", buffering=_BUFFER, newline="\n") as out,
        labels.open("w", encoding="utf-8", buffering=_BUFFER, newline="\n") as lab,
    ):
        for line, label in lines:
            out.write(line)
            out.write("\n")
            lab.write(label)
            lab.write("\n")
    stats = tuple(world.emitter.stats())
    attack = sum(s.requests for s in stats if s.attack)
    return SimulationResult(len(lines), attack, stats, world.drawn)


def summary(result: SimulationResult, config: SimulationConfig) -> str:
    """A table of requests, accounts and actors per population, for people."""
    rows = [f"{'population':<18} {'kind':<6} {'requests':>9} {'accounts':>9} {'actors':>7}"]
    for s in result.populations:
        kind = "attack" if s.attack else "legit"
        rows.append(f"{s.population:<18} {kind:<6} {s.requests:>9} {s.accounts:>9} {s.actors:>7}")
    rows.append(
        f"total: {result.requests} requests, "
        f"{sum(s.accounts for s in result.populations)} accounts, "
        f"attack share {result.attack_share:.1%}; frontier-2 released at "
        f"{config.release:.0f} (+{(config.release - config.start) / 3600:.1f} h)"
    )
    return "\n".join(rows)
