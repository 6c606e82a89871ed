"""QuotaEnforcer against memory and a real Redis: what a client over quota is told."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from guardgate.model import ApiKind, FailMode, Tier, Verdict
from guardgate.quota import QuotaEnforcer, QuotaOutcome
from guardgate.settings import GuardgateSettings, load_settings
from guardgate.testing import free_port


def _settings(redis_url: str | None, **overrides: Any) -> GuardgateSettings:
    return load_settings(redis_url=redis_url, **overrides)


def _verdict(
    tier: Tier = Tier.NORMAL, *, account: str = "", cluster: str = "", size: int = 1
) -> Verdict:
    account = account or uuid.uuid4().hex
    return Verdict(account, cluster or account, 0.0, tier, cluster_size=size)


async def _statuses(
    quotas: QuotaEnforcer, verdict: Verdict, n: int, api: ApiKind = ApiKind.OPENAI_CHAT
) -> list[QuotaOutcome]:
    return [await quotas.check(verdict, api, 10) for _ in range(n)]


async def test_sixth_request_in_a_minute_is_429_and_other_keys_are_untouched(
    redis_url: str | None,
) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_rpm=5))
    try:
        alice, bob = _verdict(), _verdict()
        outcomes = await _statuses(quotas, alice, 8)
        assert [o.status for o in outcomes] == [None] * 5 + [429] * 3
        rejected = outcomes[5]
        assert rejected.retry_after is not None and 1 <= rejected.retry_after <= 60
        headers = dict(rejected.headers)
        assert headers["x-ratelimit-limit-requests"] == "5"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")
        assert "requests per minute" in rejected.message
        assert all(o.allowed for o in await _statuses(quotas, bob, 5))
    finally:
        await quotas.close()


async def test_anthropic_paths_get_anthropic_headers(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_rpm=1, account_tpm=1000))
    try:
        verdict = _verdict()
        first, second = await _statuses(quotas, verdict, 2, ApiKind.ANTHROPIC_MESSAGES)
        assert first.allowed and second.status == 429
        headers = dict(second.headers)
        assert headers["anthropic-ratelimit-requests-limit"] == "1"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        reset = (
            time.mktime(
                time.strptime(headers["anthropic-ratelimit-requests-reset"], "%Y-%m-%dT%H:%M:%SZ")
            )
            - time.timezone
        )
        assert time.time() < reset <= time.time() + 61
        assert not any(name.startswith("x-ratelimit") for name in headers)
    finally:
        await quotas.close()


async def test_stricter_tier_gets_a_share_and_headers_do_not_reveal_it(
    redis_url: str | None,
) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_rpm=10, quota_factor_suspect=0.5))
    try:
        outcomes = await _statuses(quotas, _verdict(Tier.SUSPECT), 6)
        assert [o.status for o in outcomes] == [None] * 5 + [429]
        assert dict(outcomes[5].headers)["x-ratelimit-limit-requests"] == "10"
        extractor = await _statuses(quotas, _verdict(Tier.EXTRACTOR), 2)
        assert [o.status for o in extractor] == [None, 429]  # max(1, 10 * 0.1)
    finally:
        await quotas.close()


async def test_moving_to_a_stricter_tier_gives_no_fresh_budget(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_rpm=4, quota_factor_suspect=0.5))
    try:
        account = uuid.uuid4().hex
        assert all(o.allowed for o in await _statuses(quotas, _verdict(account=account), 4))
        flagged = await quotas.check(
            _verdict(Tier.SUSPECT, account=account), ApiKind.OPENAI_CHAT, 1
        )
        assert flagged.status == 429
    finally:
        await quotas.close()


async def test_tokens_charge_prompt_before_and_completion_after(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_tpm=100))
    try:
        verdict = _verdict()
        first = await quotas.check(verdict, ApiKind.OPENAI_CHAT, 60)
        assert first.allowed and first.ticket is not None
        await quotas.settle(first.ticket, completion_tokens=30)
        over = await quotas.check(verdict, ApiKind.OPENAI_CHAT, 20)  # 90 + 20 > 100
        assert over.status == 429 and "tokens per minute" in over.message
        assert dict(over.headers)["x-ratelimit-limit-tokens"] == "100"
        assert over.retry_after is not None and over.retry_after >= 1
        fits = await quotas.check(verdict, ApiKind.OPENAI_CHAT, 10)  # 90 + 10 = 100
        assert fits.allowed
    finally:
        await quotas.close()


async def test_reported_prompt_above_the_estimate_is_charged(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_tpm=100))
    try:
        verdict = _verdict()
        first = await quotas.check(verdict, ApiKind.OPENAI_CHAT, 10)
        assert first.ticket is not None
        await quotas.settle(first.ticket, completion_tokens=0, prompt_tokens=95)
        assert (await quotas.check(verdict, ApiKind.OPENAI_CHAT, 10)).status == 429
    finally:
        await quotas.close()


async def test_a_prompt_larger_than_the_quota_is_refused_as_too_large(
    redis_url: str | None,
) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_tpm=50))
    try:
        outcome = await quotas.check(_verdict(), ApiKind.OPENAI_CHAT, 51)
        assert outcome.status == 429 and "too large" in outcome.message
    finally:
        await quotas.close()


async def test_concurrent_streams_are_released_when_settled(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_concurrency=2))
    try:
        verdict = _verdict()
        held = await _statuses(quotas, verdict, 2)
        assert all(o.allowed for o in held)
        third = await quotas.check(verdict, ApiKind.OPENAI_CHAT, 1)
        assert third.status == 429 and "concurrent" in third.message
        assert held[0].ticket is not None
        await quotas.settle(held[0].ticket, completion_tokens=5)
        assert (await quotas.check(verdict, ApiKind.OPENAI_CHAT, 1)).allowed
    finally:
        await quotas.close()


async def test_large_cluster_gets_a_larger_but_bounded_quota(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, cluster_rpm=2))
    try:
        cluster = uuid.uuid4().hex
        members = [_verdict(cluster=cluster, size=20) for _ in range(10)]  # 20 accounts: 4x
        outcomes = [await quotas.check(v, ApiKind.OPENAI_CHAT, 1) for v in members]
        assert [o.status for o in outcomes] == [None] * 8 + [429] * 2
        # the rejection does not say a cluster was involved
        assert dict(outcomes[8].headers)["x-ratelimit-limit-requests"] == "2"
        assert "cluster" not in outcomes[8].message
    finally:
        await quotas.close()


async def test_trusted_accounts_keep_the_normal_quota(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(_settings(redis_url, account_rpm=3))
    try:
        outcomes = await _statuses(quotas, _verdict(Tier.TRUSTED), 4)
        assert [o.status for o in outcomes] == [None] * 3 + [429]
    finally:
        await quotas.close()


@pytest.mark.parametrize("fail_mode", [FailMode.OPEN, FailMode.CLOSED])
async def test_unreachable_redis_follows_fail_mode_quickly(fail_mode: FailMode) -> None:
    settings = load_settings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        account_rpm=5,
        fail_mode=fail_mode,
        redis_timeout=0.2,
    )
    quotas = QuotaEnforcer(settings)
    try:
        started = time.monotonic()
        outcome = await quotas.check(_verdict(), ApiKind.OPENAI_CHAT, 1)
        assert time.monotonic() - started < 1.0
        if fail_mode is FailMode.OPEN:
            assert outcome.allowed and outcome.failed_open
        else:
            assert outcome.status == 503
        assert quotas.faults.counts["quota"] == 1
    finally:
        await quotas.close()


async def test_nothing_configured_touches_no_storage() -> None:
    settings = load_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    quotas = QuotaEnforcer(settings)
    outcome = await quotas.check(_verdict(), ApiKind.OPENAI_CHAT, 1)
    assert outcome.allowed and outcome.ticket is None and not quotas.faults.counts
    await quotas.close()


async def test_the_outcome_names_the_limit_that_fired(redis_url: str | None) -> None:
    quotas = QuotaEnforcer(
        _settings(redis_url, account_tpm=100, cluster_rpm=2, account_concurrency=1)
    )
    try:
        cluster = uuid.uuid4().hex
        first = _verdict(account="a-" + cluster, cluster=cluster, size=2)
        second = _verdict(account="b-" + cluster, cluster=cluster, size=2)
        assert (await quotas.check(first, ApiKind.OPENAI_CHAT, 10)).allowed
        streams = await quotas.check(first, ApiKind.OPENAI_CHAT, 10)
        assert (streams.status, streams.limit) == (429, "account_concurrency")
        tokens = await quotas.check(second, ApiKind.OPENAI_CHAT, 500, hold_stream=False)
        assert (tokens.status, tokens.limit) == (429, "account_tokens")
        requests = await quotas.check(second, ApiKind.OPENAI_CHAT, 10, hold_stream=False)
        assert (requests.status, requests.limit) == (429, "cluster_requests")
        for outcome in (streams, tokens, requests):
            told = outcome.message + repr(outcome.headers)
            assert outcome.limit not in told and "cluster" not in told
    finally:
        await quotas.close()


async def test_a_tier_share_that_rounds_to_the_normal_amount_counts_once(
    redis_url: str | None,
) -> None:
    # account_rpm=1: the extractor's share rounds up to 1, the normal amount; its counter would
    # share the normal counter's key and count each request twice.
    quotas = QuotaEnforcer(_settings(redis_url, account_rpm=1))
    try:
        outcomes = await _statuses(quotas, _verdict(Tier.EXTRACTOR), 2)
        assert [o.status for o in outcomes] == [None, 429]
    finally:
        await quotas.close()
