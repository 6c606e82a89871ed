"""The gate itself, on a fake clock: admission (detection, overrides, policy, quotas), settlement,
the fail modes and shadow mode, through `Deployment.from_settings` with state in memory."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest, InlineDetection
from guardgate.gate import Admission
from guardgate.model import ApiKind, Observation, ReasoningPolicy, Tier, Verdict
from guardgate.overrides import OverrideScope
from guardgate.policy import Policy
from guardgate.settings import load_settings
from guardgate.usage import Usage

WORDS = " ".join(["river", "stone", "light", "cloud"] * 100)


def _deployment(clock: list[float], **settings: Any) -> Deployment:
    return Deployment.from_settings(load_settings(**settings), lambda: clock[0])


def _request(key: str, text: str = "hello", **body: Any) -> GateRequest:
    data = {"model": "m", "messages": [{"role": "user", "content": text}], **body}
    headers = [(b"authorization", f"Bearer {key}".encode())]
    return GateRequest(ApiKind.OPENAI_CHAT, headers, "203.0.113.9", json.dumps(data).encode(), data)


def _status(admission: Admission) -> int:
    return admission.decision.reject_status or 200


async def _account(deployment: Deployment, key: str) -> str:
    return (await deployment.gate.admit(_request(key))).decision.verdict.account


async def test_a_token_quota_counts_the_prompt_before_forwarding() -> None:
    """The issue's example: three 400-word prompts under ACCOUNT_TPM=1000 are 200, 200, 429."""
    clock = [1_800_000_000.0]
    deployment = _deployment(clock, account_tpm=1000)
    await deployment.start()
    try:
        admissions = []
        for _ in range(3):
            clock[0] += 1
            admissions.append(await deployment.gate.admit(_request("sk-words", WORDS)))
    finally:
        await deployment.close()
    assert [_status(a) for a in admissions] == [200, 200, 429]
    assert 300 < admissions[0].prompt_tokens < 1000
    assert admissions[2].decision.actions[0] == "rate_limited"
    assert admissions[2].ticket is None


async def test_settling_charges_the_answer_and_releases_the_stream() -> None:
    clock = [1_800_000_000.0]
    deployment = _deployment(clock, account_tpm=1000, account_concurrency=1)
    gate = deployment.gate
    await deployment.start()
    try:
        first = await gate.admit(_request("sk-settle"))
        assert _status(first) == 200 and first.ticket is not None
        # One stream at a time: the second waits for the first to settle.
        assert _status(await gate.admit(_request("sk-settle"))) == 429
        await gate.settle(first, Usage(990))
        # The lease is back, but the answer's 990 tokens now fill the minute's budget.
        after = await gate.admit(_request("sk-settle"))
    finally:
        await deployment.close()
    assert _status(after) == 429
    assert "tokens per minute" in after.decision.reject_message


async def test_overrides_apply_before_the_policy() -> None:
    clock = [1_800_000_000.0]
    deployment = _deployment(clock)
    gate = deployment.gate
    await deployment.start()
    try:
        blocked = await _account(deployment, "sk-override-blocked")
        flagged = await _account(deployment, "sk-override-flagged")
        await deployment.overrides.set(OverrideScope.ACCOUNT, blocked, Tier.BLOCKED)
        await deployment.overrides.set(OverrideScope.ACCOUNT, flagged, Tier.EXTRACTOR, ttl=60)
        refused = await gate.admit(_request("sk-override-blocked"))
        hardened = await gate.admit(_request("sk-override-flagged"))
        clock[0] += 61  # the extractor override expires
        expired = await gate.admit(_request("sk-override-flagged"))
    finally:
        await deployment.close()
    assert _status(refused) == 403 and refused.decision.actions == ("blocked",)
    assert hardened.decision.reasoning_policy is ReasoningPolicy.STRIP
    assert hardened.decision.drop_logprobs
    assert expired.decision.reasoning_policy is ReasoningPolicy.PASS
    assert expired.decision.verdict.tier is Tier.NORMAL


async def _failing(obs: Observation) -> Verdict:
    raise ConnectionError("Redis is down")


async def test_failing_closed_answers_503() -> None:
    clock = [1_800_000_000.0]
    deployment = _deployment(clock, fail_mode="closed")
    assert isinstance(deployment.detection, InlineDetection)
    deployment.detection.engine.observe = _failing  # type: ignore[method-assign]
    admission = await deployment.gate.admit(_request("sk-closed"))
    assert _status(admission) == 503
    assert deployment.faults.counts["engine"] == 1


async def test_failing_open_keeps_the_last_known_verdict_and_overrides() -> None:
    clock = [1_800_000_000.0]
    deployment = _deployment(clock)
    detection = deployment.detection
    assert isinstance(detection, InlineDetection)
    engine = detection.engine
    judged = engine.observe

    async def flagged(obs: Observation) -> Verdict:
        verdict = await judged(obs)
        return Verdict(verdict.account, verdict.cluster, 0.97, Tier.EXTRACTOR, ("farm",))

    await deployment.start()
    try:
        engine.observe = flagged  # type: ignore[method-assign]
        extractor = await _account(deployment, "sk-open-extractor")
        engine.observe = judged  # type: ignore[method-assign]
        blocked = await _account(deployment, "sk-open-blocked")
        await deployment.overrides.set(OverrideScope.ACCOUNT, blocked, Tier.BLOCKED)
        engine.observe = _failing  # type: ignore[method-assign]
        during = {
            key: await deployment.gate.admit(_request(key))
            for key in ("sk-open-extractor", "sk-open-blocked", "sk-open-new")
        }
    finally:
        engine.observe = judged  # type: ignore[method-assign]
        await deployment.close()
    stripped = during["sk-open-extractor"].decision
    assert stripped.verdict.account == extractor and stripped.verdict.tier is Tier.EXTRACTOR
    assert stripped.reasoning_policy is ReasoningPolicy.STRIP
    assert "fail_open" in stripped.actions
    assert _status(during["sk-open-blocked"]) == 403
    new = during["sk-open-new"].decision
    assert _status(during["sk-open-new"]) == 200 and new.reasoning_policy is ReasoningPolicy.PASS
    assert new.actions == ("fail_open",)
    assert deployment.faults.counts["engine"] == 3


async def test_the_fail_open_memory_is_bounded() -> None:
    clock = [1_800_000_000.0]
    deployment = _deployment(clock)
    detection = deployment.detection
    assert isinstance(detection, InlineDetection)
    small = InlineDetection(detection.observer, detection.engine, known=3)
    for i in range(5):
        await small.judge(_request(f"sk-bounded-{i}"), clock[0], 0)
    # The three most recently judged are remembered; the oldest two are not.
    remembered = [small.fallback(_request(f"sk-bounded-{i}")).cluster_size for i in range(5)]
    assert len(small._known) == 3
    assert all(size == 1 for size in remembered)
    first = small.fallback(_request("sk-bounded-0"))
    assert first.reasons == () and first.score == 0.0


def test_a_verdict_sent_again_unchanged_is_found_by_identity_after_its_first_request() -> None:
    # The detector sends an unchanged verdict again every few seconds, a new object equal to the
    # last: its decision is the one cached, and the account's next requests find it without
    # hashing the verdict again (which costs more than the rest of the decision).
    hashed: list[Verdict] = []

    class Counted(Verdict):
        __slots__ = ()

        def __hash__(self) -> int:
            hashed.append(self)
            return super().__hash__()

    policy = Policy(load_settings(detection="process"))
    decided = policy.decide(Counted("acct", "acct", 0.5, Tier.SUSPECT))
    again = Counted("acct", "acct", 0.5, Tier.SUSPECT)
    before = len(hashed)
    assert policy.decide(again) is decided
    assert len(hashed) == before + 1  # the cache looked up once
    assert policy.decide(again) is decided and policy.decide(again) is decided
    assert len(hashed) == before + 1


async def test_shadow_mode_logs_what_it_would_do_and_enforces_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [1_800_000_000.0]
    deployment = _deployment(clock, mode="shadow", account_rpm=1)
    await deployment.start()
    try:
        blocked = await _account(deployment, "sk-shadow")
        await deployment.overrides.set(OverrideScope.ACCOUNT, blocked, Tier.BLOCKED)
        with caplog.at_level(logging.INFO, logger="guardgate.audit"):
            admission = await deployment.gate.admit(_request("sk-shadow"))
    finally:
        await deployment.close()
    assert admission.shadow and _status(admission) == 200
    assert admission.decision.reasoning_policy is ReasoningPolicy.PASS
    logged = [json.loads(r.getMessage()) for r in caplog.records if "decision" in r.getMessage()]
    assert logged and logged[-1]["shadow"] is True and logged[-1]["actions"] == ["blocked"]
