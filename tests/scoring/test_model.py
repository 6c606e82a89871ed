"""The score and its reasons, on typical senders over simulated time."""

from __future__ import annotations

import pytest
from tests.scoring.traffic import DAY, T0, coding_agent_request, eval_request, farm_request

from guardgate.model import Tier
from guardgate.scoring import DEFAULT_WEIGHTS, MemoryFeatureStore, Scorer, ScoringModel
from guardgate.scoring.factory import ScoringConfig


async def _run(scorer: Scorer, requests: list) -> list:  # type: ignore[type-arg]
    out = []
    for obs in requests:
        state = await scorer.observe(obs)
        out.append(scorer.judge(obs, state, obs.account))
    return out


async def test_a_harvesting_script_becomes_an_extractor_within_a_few_requests() -> None:
    scorer = Scorer()
    # A request every 20 minutes, round the clock.
    judged = await _run(scorer, [farm_request(T0 + 1200 * i, i) for i in range(30)])
    first_flag = next(i for i, j in enumerate(judged) if j.tier is not Tier.NORMAL)
    assert first_flag <= 5
    assert judged[-1].tier is Tier.EXTRACTOR
    assert any("maximum-length" in r for r in judged[-1].reasons)


async def test_a_coding_agent_asking_for_reasoning_all_day_stays_normal() -> None:
    scorer = Scorer()
    requests = [coding_agent_request(T0 + 8 * 3600 + 60 * i, i) for i in range(600)]
    judged = await _run(scorer, requests)
    assert {j.tier for j in judged} == {Tier.NORMAL}
    assert max(j.score for j in judged) < 0.6  # well below suspect_enter (0.85)


async def test_a_nightly_eval_run_stays_normal() -> None:
    scorer = Scorer()
    requests = [
        eval_request(T0 + day * DAY + 2 * 3600 + 3 * i, i) for day in range(5) for i in range(400)
    ]
    judged = await _run(scorer, requests)
    assert {j.tier for j in judged} == {Tier.NORMAL}


async def test_a_cluster_lifts_a_member_with_some_evidence_but_not_a_harmless_one() -> None:
    scorer = Scorer(MemoryFeatureStore())
    farm = [f"farm-{k}" for k in range(5)]
    for k, account in enumerate(farm):
        await _run(scorer, [farm_request(T0 + 600 * i + k, i, account) for i in range(40)])
    dev = coding_agent_request(T0 + 30000, 1, "dev-linked")
    await _run(scorer, [dev])
    await scorer.refresh_clusters({a: "c-1" for a in [*farm, "dev-linked", "new-farm"]}, T0 + 3e4)
    assert scorer.clusters["c-1"].score.value > 0.9

    newcomer = farm_request(T0 + 30000, 7, "new-farm")
    alone = Scorer().judge(newcomer, await Scorer().observe(newcomer), "new-farm")
    lifted = scorer.judge(newcomer, await scorer.observe(newcomer), "c-1")
    assert alone.tier is Tier.NORMAL
    assert lifted.tier is not Tier.NORMAL
    assert lifted.reasons[0].startswith("linked to a cluster of 7 accounts")

    dev2 = coding_agent_request(T0 + 30060, 2, "dev-linked")
    assert scorer.judge(dev2, await scorer.observe(dev2), "c-1").tier is Tier.NORMAL


def test_weights_are_documented_and_overridable() -> None:
    model = ScoringConfig(weights="streamed=-1.5, bias=-3").model()
    assert model.weights["streamed"] == -1.5
    assert model.weights["bias"] == -3
    assert model.weights["long_output"] == DEFAULT_WEIGHTS["long_output"]
    with pytest.raises(ValueError, match="unknown scoring weights"):
        ScoringModel.with_overrides({"typo": 1.0})
    with pytest.raises(ValueError, match="name=number"):
        ScoringConfig(weights="bias").model()
