"""The score and its reasons, on typical senders over simulated time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from tests.scoring.traffic import (
    DAY,
    T0,
    coding_agent_request,
    eval_request,
    farm_request,
    student_request,
    writer_request,
)

from guardgate.model import Observation, Tier
from guardgate.scoring import DEFAULT_WEIGHTS, MemoryFeatureStore, Scorer, ScoringModel
from guardgate.scoring.factory import ScoringConfig
from guardgate.scoring.scorer import ATTACH_LINKS


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
    assert any("long answers" in r for r in judged[-1].reasons)


async def test_a_coding_agent_asking_for_reasoning_all_day_stays_normal() -> None:
    scorer = Scorer()
    requests = [coding_agent_request(T0 + 8 * 3600 + 60 * i, i) for i in range(600)]
    judged = await _run(scorer, requests)
    assert {j.tier for j in judged} == {Tier.NORMAL}
    assert max(j.score for j in judged) < 0.6  # well below suspect_enter (0.85)


async def test_a_nightly_eval_run_of_a_known_benchmark_stays_normal() -> None:
    scorer = Scorer()
    # The benchmark's items were run before (by another team, the night before): repeats of
    # known prompts cover no new ground. A benchmark's very first run looks like harvesting.
    await _run(scorer, [eval_request(T0 - DAY + 3 * i, i, "ci-0") for i in range(400)])
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

    # A new account of the farm, a few requests in: telling, but not enough on its own.
    single = Scorer()
    for i in range(3):
        newcomer = farm_request(T0 + 30000 + 600 * i, 7 + i, "new-farm")
        alone = single.judge(newcomer, await single.observe(newcomer), "new-farm")
        lifted = scorer.judge(newcomer, await scorer.observe(newcomer), "c-1")
    assert alone.tier is Tier.NORMAL
    assert lifted.tier is not Tier.NORMAL
    assert lifted.reasons[0].startswith("linked to a cluster of 7 accounts")

    dev2 = coding_agent_request(T0 + 30060, 2, "dev-linked")
    assert scorer.judge(dev2, await scorer.observe(dev2), "c-1").tier is Tier.NORMAL


async def test_a_member_held_by_one_link_takes_half_the_lift() -> None:
    # The same newcomer in the same farm cluster, embedded (linked to several members) or held
    # by one link (a coincidence: a shared build and a question alike).
    async def judged(degree: int) -> float:
        scorer = Scorer(MemoryFeatureStore())
        farm = [f"farm-{k}" for k in range(5)]
        for k, account in enumerate(farm):
            await _run(scorer, [farm_request(T0 + 600 * i + k, i, account) for i in range(40)])
        degrees = {**dict.fromkeys(farm, 4), "new-farm": degree}
        assignment = {a: "c-1" for a in [*farm, "new-farm"]}
        await scorer.refresh_clusters(assignment, T0 + 3e4, degrees)
        newcomer = farm_request(T0 + 30000, 7, "new-farm")
        return scorer.judge(newcomer, await scorer.observe(newcomer), "c-1").score

    own = Scorer()
    first = farm_request(T0 + 30000, 7, "new-farm")
    alone = own.judge(first, await own.observe(first), "").score
    embedded, two, held = await judged(4), await judged(ATTACH_LINKS), await judged(1)
    assert embedded == two > held > alone
    assert held - alone == pytest.approx((two - alone) / 2, rel=0.01)


def test_weights_are_documented_and_overridable() -> None:
    model = ScoringConfig(weights="deep=2.5, bias=-3").model()
    assert model.weights["deep"] == 2.5
    assert model.weights["bias"] == -3
    assert model.weights["budget"] == DEFAULT_WEIGHTS["budget"]
    with pytest.raises(ValueError, match="unknown scoring weights"):
        ScoringModel.with_overrides({"typo": 1.0})
    with pytest.raises(ValueError, match="name=number"):
        ScoringConfig(weights="bias").model()


def _farm(i: int, account: str = "farm-1") -> Observation:
    return farm_request(T0 + 1200 * i, i, account)


FREE_CHANGES: dict[str, Callable[[Observation, int], Observation]] = {
    "stream": lambda o, i: replace(o, stream=True),
    "system prompt": lambda o, i: replace(o, system_hash="copied-from-a-popular-app"),
    "random parameters": lambda o, i: replace(o, param_signature=f"p-{i}"),
    "max_tokens 7,999": lambda o, i: replace(o, max_tokens=7999),
    "bursts": lambda o, i: replace(o, ts=T0 + 1200 * (i - i % 5) + 4 * 1200 + 0.4 * (i % 5)),
    "one exit per request": lambda o, i: replace(o, ip_prefix=f"10.{i}.0.0/24"),
}


@pytest.mark.parametrize("change", sorted(FREE_CHANGES))
async def test_no_free_change_lowers_a_farms_score(change: str) -> None:
    plain = await _run(Scorer(), [_farm(i) for i in range(40)])
    changed = await _run(Scorer(), [FREE_CHANGES[change](_farm(i), i) for i in range(40)])
    assert changed[-1].tier is Tier.EXTRACTOR
    if change == "max_tokens 7,999":
        # Half the budget of 16,000 costs the farm half of what it harvests; the score moves
        # smoothly with it rather than dropping at a threshold.
        at_8000 = await _run(Scorer(), [replace(_farm(i), max_tokens=8000) for i in range(40)])
        assert abs(changed[-1].score - at_8000[-1].score) < 1e-3
        assert changed[-1].score <= plain[-1].score
    else:
        assert changed[-1].score >= plain[-1].score - 1e-9
    assert next(i for i, j in enumerate(changed) if j.tier is not Tier.NORMAL) <= next(
        i for i, j in enumerate(plain) if j.tier is not Tier.NORMAL
    ) + {"bursts": 4, "max_tokens 7,999": 2}.get(change, 0)


async def test_every_weight_is_non_negative_but_the_intercepts() -> None:
    assert {k for k, w in DEFAULT_WEIGHTS.items() if w < 0} == {"bias", "history"}


async def test_a_writer_asking_for_long_chapters_all_day_stays_normal() -> None:
    judged = await _run(Scorer(), [writer_request(T0 + 900 * i, i) for i in range(5 * 96)])
    assert {j.tier for j in judged} == {Tier.NORMAL}


async def test_a_farm_in_human_hours_is_still_flagged_by_its_harvest() -> None:
    hours = [T0 + day * DAY + 9 * 3600 + 600 * k for day in range(3) for k in range(54)]
    judged = await _run(Scorer(), [farm_request(ts, i) for i, ts in enumerate(hours)])
    assert judged[-1].tier is Tier.EXTRACTOR
    assert any("volume" in r or "long answers" in r for r in judged[-1].reasons)


async def test_coordination_alone_does_not_flag_a_class_but_a_low_and_slow_farm_is_flagged() -> (
    None
):
    scorer = Scorer()
    students = [f"student-{k}" for k in range(200)]
    farm = [f"slow-{k}" for k in range(200)]
    for k in range(200):
        for i in range(5):
            ts = T0 + 3600 * i + 7 * k
            await _run(scorer, [student_request(ts, i + k, students[k])])
            await _run(scorer, [farm_request(ts + 1, i + k, farm[k])])
    assignment = {a: "class" for a in students} | {a: "farm" for a in farm}
    await scorer.refresh_clusters(assignment, T0 + 5 * 3600)
    late = T0 + 5 * 3600 + 60
    student = scorer.judge(
        s := student_request(late, 3, "student-7"), await scorer.observe(s), "class"
    )
    member = scorer.judge(f := farm_request(late, 3, "slow-7"), await scorer.observe(f), "farm")
    alone = Scorer()
    own = alone.judge(f, await alone.observe(f), "slow-7")
    assert student.tier is Tier.NORMAL
    assert own.tier is Tier.NORMAL  # a few requests say little on their own
    assert member.tier is not Tier.NORMAL
    assert member.reasons[0].startswith("linked to a cluster of 200 accounts")


async def test_a_cluster_lifts_a_member_asking_for_short_answers_little() -> None:
    scorer = Scorer(MemoryFeatureStore())
    farm = [f"farm-{k}" for k in range(5)]
    for k, account in enumerate(farm):
        await _run(scorer, [farm_request(T0 + 600 * i + k, i, account) for i in range(40)])
    await scorer.refresh_clusters({a: "c-1" for a in [*farm, "backend"]}, T0 + 3e4)
    assert scorer.clusters["c-1"].score.value > 0.9
    # A back end sharing the farm's cloud, asking for 300-token summaries.
    short = [replace(farm_request(T0 + 30000, 900, "backend"), max_tokens=300)]
    judged = await _run_in(scorer, short, "c-1")
    assert judged[0].score < judged[0].own_score + 0.1
    # The same sender asking for 16,000 tokens takes the cluster's lift.
    long = [farm_request(T0 + 31000, 990, "backend")]
    judged = await _run_in(scorer, long, "c-1")
    assert judged[0].score >= judged[0].own_score + 0.4


async def test_coordination_with_harvest_at_volume_raises_a_cluster_alone_it_does_not() -> None:
    scorer = Scorer(MemoryFeatureStore())
    # Agent loops with the longest budgets from 16 accounts, round the clock; and a class of 16
    # students chatting with no output limit, a few turns each.
    for k in range(16):
        await _run(
            scorer,
            [coding_agent_request(T0 + 450 * i + k, i, f"loop-{k}") for i in range(200)],
        )
        await _run(
            scorer, [student_request(T0 + 3000 * i + k, i, f"student-{k}") for i in range(8)]
        )
    assignment = {f"loop-{k}": "c-loops" for k in range(16)}
    assignment.update({f"student-{k}": "c-class" for k in range(16)})
    await scorer.refresh_clusters(assignment, T0 + 200 * 450)
    loops = scorer.clusters["c-loops"].score
    assert dict(loops.contributions)["cluster_volume"] > 2.0
    assert dict(scorer.clusters["c-class"].score.contributions).get("cluster_volume", 0.0) < 0.5
    assert scorer.clusters["c-class"].score.value < 0.6


async def _run_in(scorer: Scorer, requests: list, cluster: str) -> list:  # type: ignore[type-arg]
    out = []
    for obs in requests:
        state = await scorer.observe(obs)
        out.append(scorer.judge(obs, state, cluster))
    return out


LOOP_GAP = 960.0
"""Seconds between an agent-loop account's steps in these tests: 90 steps span a day, round the
clock (a farm's loops do; a team's working day pools nothing, see `model.clock_share`)."""


async def _loops(
    scorer: Scorer, accounts: list[str], steps: int, max_tokens: int, gap: float = LOOP_GAP
) -> None:
    for k, account in enumerate(accounts):
        await _run(
            scorer,
            [
                replace(coding_agent_request(T0 + gap * i + k, i, account), max_tokens=max_tokens)
                for i in range(steps)
            ],
        )


async def test_a_small_cluster_harvesting_beyond_any_one_users_volume_flags_its_members() -> None:
    # Eight agent-loop accounts on one cloud host, each asking the longest budgets: each looks
    # like a developer's agent, but together they ask for more than any single user does.
    scorer = Scorer(MemoryFeatureStore())
    farm = [f"loop-{k}" for k in range(8)]
    await _loops(scorer, farm, 90, 32000)
    await scorer.refresh_clusters({a: "c-farm" for a in farm}, T0 + 90 * LOOP_GAP)
    pooled = scorer.clusters["c-farm"]
    assert pooled.harvest > 0.5
    assert dict(pooled.score.contributions)["pooled_harvest"] > 0.5
    step = coding_agent_request(T0 + 91 * LOOP_GAP, 91, "loop-3")
    judged = scorer.judge(step, await scorer.observe(step), "c-farm")
    assert judged.own_score < 0.5  # on its own, a developer's agent
    assert judged.tier is not Tier.NORMAL
    assert judged.reasons[0].startswith("linked to a cluster of 8 accounts")


async def test_a_team_running_the_agent_through_its_working_day_pools_no_volume() -> None:
    # The same eight heavy agent-loop accounts behind one office address, asking the same
    # budgets, but only from 09:00 to 19:00 UTC on three days: a team, not a farm.
    scorer = Scorer(MemoryFeatureStore())
    team = [f"dev-{k}" for k in range(8)]
    day_start = T0 + 9 * 3600  # T0 is midnight UTC
    for k, account in enumerate(team):
        steps = [
            replace(
                coding_agent_request(day_start + d * DAY + 300 * i + k, 120 * d + i, account),
                max_tokens=32000,
            )
            for d in range(3)
            for i in range(120)
        ]
        await _run(scorer, steps)
    now = day_start + 2 * DAY + 120 * 300
    await scorer.refresh_clusters({a: "c-team" for a in team}, now)
    pooled = scorer.clusters["c-team"]
    assert pooled.harvest == 0.0
    terms = dict(pooled.score.contributions)
    assert "pooled_harvest" not in terms and "cluster_volume" not in terms
    step = coding_agent_request(now + 60, 999, "dev-3")
    assert scorer.judge(step, await scorer.observe(step), "c-team").tier is Tier.NORMAL
    # Round the clock, the same volume pools (see the eight-account farm above).
    farm = Scorer(MemoryFeatureStore())
    await _loops(farm, team, 270, 32000, gap=3 * DAY / 270)
    await farm.refresh_clusters({a: "c-farm" for a in team}, T0 + 3 * DAY)
    assert farm.clusters["c-farm"].harvest > 0.5


def test_a_clusters_volume_counts_by_how_much_of_the_clock_it_covers() -> None:
    from guardgate.scoring.model import DAY_SLOTS, clock_share

    assert [clock_share(n) for n in range(7)] == [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0]
    assert DAY_SLOTS == 4


async def test_the_same_cluster_with_short_answers_or_light_volume_is_not_flagged() -> None:
    # A SaaS back end's eight keys on a shared cloud, asking for 300-token answers.
    scorer = Scorer(MemoryFeatureStore())
    backend = [f"saas-{k}" for k in range(8)]
    await _loops(scorer, backend, 90, 300)
    # Eight developers' agents linked together, a few tasks each: coordination without harvest.
    team = [f"dev-{k}" for k in range(8)]
    await _loops(scorer, team, 8, 32000)
    assignment = {a: "c-saas" for a in backend} | {a: "c-team" for a in team}
    await scorer.refresh_clusters(assignment, T0 + 90 * LOOP_GAP)
    assert scorer.clusters["c-saas"].harvest == 0.0
    assert scorer.clusters["c-team"].harvest == 0.0
    for account, cluster, tokens in (("saas-2", "c-saas", 300), ("dev-2", "c-team", 32000)):
        step = replace(coding_agent_request(T0 + 91 * LOOP_GAP, 91, account), max_tokens=tokens)
        assert scorer.judge(step, await scorer.observe(step), cluster).tier is Tier.NORMAL


async def test_a_member_flagged_only_for_its_clusters_volume_lends_its_evidence_no_kin() -> None:
    scorer = Scorer(MemoryFeatureStore())
    farm = [f"loop-{k}" for k in range(8)]
    await _loops(scorer, farm, 90, 32000)
    await scorer.refresh_clusters({a: "c-farm" for a in farm}, T0 + 90 * LOOP_GAP)
    for i in range(91, 500):
        step = coding_agent_request(T0 + 90 * LOOP_GAP + (i - 90) * 300, i, f"loop-{i % 8}")
        assert scorer.judge(step, await scorer.observe(step), "c-farm").tier is not Tier.NORMAL
    # A developer new to the same popular agent (same prompt, tools and network) starts a task.
    dev = replace(coding_agent_request(T0 + 90 * LOOP_GAP + 410 * 300, 0, "dev-new"), turns=1)
    judged = scorer.judge(dev, await scorer.observe(dev), "dev-new")
    assert judged.tier is Tier.NORMAL
    assert not any(r.startswith("shares its wording") for r in judged.reasons)
