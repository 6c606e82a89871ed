"""Kin: a farm's new account is judged on its first request by the reputation of the evidence it
shares with flagged accounts, before linking has put it in the farm's cluster."""

from __future__ import annotations

from dataclasses import replace

from tests.scoring.traffic import T0, farm_request

from guardgate.model import Observation, Tier
from guardgate.scoring import Scorer
from guardgate.scoring.reputation import EvidenceReputation

_WORDING = (11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22)


def _farm(ts: float, i: int, account: str) -> Observation:
    """A farm request in the farm's own wording, from the farm's software."""
    return replace(
        farm_request(ts, i, account),
        user_agent="farmbot/1.0",
        template_sketch=_WORDING,
        template_hash="farm-template",
    )


async def _flag_the_farm(scorer: Scorer) -> None:
    for k in range(4):
        for i in range(30):
            obs = _farm(T0 + 600 * i + k, i, f"farm-{k}")
            scorer.judge(obs, await scorer.observe(obs), obs.account)


async def test_a_new_account_sharing_wording_and_software_with_flagged_ones_is_flagged() -> None:
    scorer = Scorer()
    await _flag_the_farm(scorer)
    newcomer = _farm(T0 + 30_000, 100, "farm-new")
    judged = scorer.judge(newcomer, await scorer.observe(newcomer), "farm-new")
    assert judged.tier is not Tier.NORMAL
    assert any("flagged accounts" in reason for reason in judged.reasons)

    # The same first request without the farm to recognise: a stranger's, judged on its own.
    alone = Scorer()
    first = alone.judge(newcomer, await alone.observe(newcomer), "farm-new")
    assert first.tier is Tier.NORMAL


async def test_one_kind_of_shared_evidence_or_a_repeated_prompt_inherits_nothing() -> None:
    scorer = Scorer()
    await _flag_the_farm(scorer)
    # Only the software (a popular build the farm also uses), not the wording.
    other = replace(_farm(T0 + 30_000, 101, "dev-1"), template_sketch=(), template_hash="")
    judged = scorer.judge(other, await scorer.observe(other), "dev-1")
    assert judged.tier is Tier.NORMAL
    # The farm's wording and software, but a prompt the deployment has seen before: no new
    # ground harvested, nothing inherited.
    repeat = replace(_farm(T0 + 30_001, 5, "dev-2"), prompt_hash="farm-0-task-5")
    judged = scorer.judge(repeat, await scorer.observe(repeat), "dev-2")
    assert judged.tier is Tier.NORMAL


async def test_an_accounts_own_flagged_past_is_not_kin() -> None:
    reputation = EvidenceReputation(min_support=2)
    values = ["cli:a", "net:1.2.3.0/24"]
    for i in range(10):
        reputation.record(values, T0 + i, flagged=True)
    assert reputation.share(values, T0 + 10, own=0.0) == 1.0
    # All ten requests were the sender's own: nothing left that others sent.
    assert reputation.share(values, T0 + 10, own=10.0) == 0.0


async def test_a_value_honest_traffic_shares_keeps_a_low_share() -> None:
    reputation = EvidenceReputation(min_support=2)
    for i in range(100):
        reputation.record(["cli:popular-sdk", f"net:10.0.{i}.0/24"], T0 + i, flagged=False)
    for i in range(20):
        reputation.record(["cli:popular-sdk", "net:81.1.1.0/24"], T0 + 100 + i, flagged=True)
    share = reputation.share(["cli:popular-sdk", "net:81.1.1.0/24"], T0 + 200)
    assert share < 0.2  # the software kind: 20 of 120 requests


async def test_most_of_a_flagged_wording_is_kin_without_a_second_kind() -> None:
    # A stealth farm's account: its own address, software and parameters, but the farm's own
    # wording (7 of the 8 sketch values), as content alone links it.
    reputation = EvidenceReputation(min_support=2)
    wording = [f"b:{i}.farm" for i in range(8)]
    for i in range(10):
        reputation.record([*wording, f"cli:farm-{i}"], T0 + i, flagged=True)
    assert reputation.share([*wording[:7], "b:7.own", "cli:mine"], T0 + 10) == 1.0
    # Half the sketch agreeing (a stranger's prompt in the same domain): a second kind is needed.
    assert reputation.share([*wording[:4], "b:4.own", "cli:mine"], T0 + 10) == 0.0
    # Most of a wording that honest traffic mostly sends (a popular app's template) stays low.
    for i in range(60):
        reputation.record([*wording, f"cli:user-{i}"], T0 + 20 + i, flagged=False)
    assert reputation.share([*wording[:7], "b:7.own", "cli:mine"], T0 + 90) < 0.2
