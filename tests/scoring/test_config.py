"""Operators set thresholds and weights with GUARDGATE_SCORING_* variables."""

from __future__ import annotations

import pytest
from tests.scoring.traffic import T0, farm_request

from guardgate.engine import Engine
from guardgate.model import Tier
from guardgate.settings import load_settings


async def _tiers(engine: Engine, n: int) -> list[Tier]:
    out = []
    for i in range(n):
        out.append((await engine.observe(farm_request(T0 + 1200 * i, i))).tier)
    await engine.close()
    return out


def _first_flag(tiers: list[Tier]) -> int:
    return next(i for i, t in enumerate(tiers) if t is not Tier.NORMAL)


async def test_thresholds_and_weights_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = await _tiers(Engine(load_settings()), 6)
    monkeypatch.setenv("GUARDGATE_SCORING_SUSPECT_ENTER", "0.5")
    monkeypatch.setenv("GUARDGATE_SCORING_SUSPECT_EXIT", "0.4")
    earlier = await _tiers(Engine(load_settings()), 6)
    assert _first_flag(earlier) < _first_flag(default)

    monkeypatch.setenv("GUARDGATE_SCORING_WEIGHTS", "budget=0,deep=0,reasoned_long=0,volume=0")
    blind = await _tiers(Engine(load_settings()), 6)
    assert set(blind) == {Tier.NORMAL}


def test_a_misspelt_weight_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_SCORING_WEIGHTS", "long_outptu=1")
    with pytest.raises(ValueError, match="GUARDGATE_SCORING_WEIGHTS: unknown weight 'long_outptu'"):
        Engine(load_settings())
