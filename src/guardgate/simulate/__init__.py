"""Labelled synthetic traffic: legitimate populations and distillation attacks, for replay."""

from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.emitter import PopulationStats
from guardgate.simulate.runner import (
    ATTACK_POPULATIONS,
    POPULATIONS,
    SimulationResult,
    simulate,
    summary,
)

__all__ = [
    "ATTACK_POPULATIONS",
    "POPULATIONS",
    "PopulationStats",
    "SimulationConfig",
    "SimulationResult",
    "simulate",
    "summary",
]
