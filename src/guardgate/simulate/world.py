"""What every population generator shares: the run's settings, the emitter, the networks."""

from __future__ import annotations

import random
from dataclasses import dataclass

from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.emitter import Emitter
from guardgate.simulate.network import CarrierNat


@dataclass
class World:
    """Shared context of one run; each population draws from its own seeded generator."""

    config: SimulationConfig
    emitter: Emitter
    carriers: CarrierNat

    @classmethod
    def create(cls, config: SimulationConfig) -> World:
        """A world for `config` with its shared mobile carriers."""
        rng = random.Random(f"{config.seed}:world")
        return cls(config, Emitter(config), CarrierNat(rng))

    def rng(self, name: str) -> random.Random:
        """A generator private to `name`, so populations do not shift each other's draws."""
        return random.Random(f"{self.config.seed}:{name}")
