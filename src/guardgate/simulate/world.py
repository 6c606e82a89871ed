"""What every population generator shares: the run's settings, the emitter, the networks."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from guardgate.simulate.clients import ClientBuild
from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.emitter import Account, Emitter
from guardgate.simulate.network import CarrierNat


@dataclass
class World:
    """Shared context of one run; each population draws from its own seeded generator.

    `drawn` records, per population, the parameters it drew for this seed (sizes, rates, builds,
    wordings), so that a reader (and the tests) can see that no population is a constant.
    """

    config: SimulationConfig
    emitter: Emitter
    carriers: CarrierNat
    drawn: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def create(cls, config: SimulationConfig) -> World:
        """A world for `config` with its shared mobile carriers."""
        rng = random.Random(f"{config.seed}:world")
        return cls(config, Emitter(config), CarrierNat(rng, carriers=rng.randint(4, 8)))

    def rng(self, name: str) -> random.Random:
        """A generator private to `name`, so populations do not shift each other's draws."""
        return random.Random(f"{self.config.seed}:{name}")

    def note(self, population: str, **params: object) -> None:
        """Record parameters `population` drew for this seed."""
        self.drawn.setdefault(population, {}).update(params)

    def members(
        self, population: str, rng: random.Random, low: float, high: float, minimum: int = 1
    ) -> tuple[int, float]:
        """A population size drawn between `low` and `high` (at scale 1) and each member's
        volume factor (see `SimulationConfig.sized`); recorded as `members`."""
        base = rng.uniform(low, high)
        n, volume = self.config.sized(base, minimum)
        self.note(population, members=n, base=round(base, 3))
        return n, volume

    def user(
        self,
        rng: random.Random,
        population: str,
        actor: str,
        build: ClientBuild,
        *,
        anthropic: bool = False,
    ) -> Account:
        """A new legitimate account of `population` with a fresh key (a campaign's accounts come
        from `Campaign.account`)."""
        return self.emitter.account(
            rng, actor=actor, population=population, attack=False, build=build, anthropic=anthropic
        )
