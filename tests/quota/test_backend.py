"""Where quota state lives: URIs passed to `limits`, and what the keys in Redis look like."""

from __future__ import annotations

import pytest
import redis

from guardgate.model import ApiKind, Tier, Verdict
from guardgate.quota import QuotaEnforcer, build_backend, limits_uri
from guardgate.settings import load_settings
from guardgate.testing.redis_server import RedisServer


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("redis://h:6379/0", "async+redis://h:6379/0"),
        ("rediss://:pw@h:6380", "async+rediss://:pw@h:6380"),
        ("unix:///run/redis.sock?db=1", "async+redis+unix:///run/redis.sock?db=1"),
        ("redis+cluster://a:7000,b:7001", "async+redis+cluster://a:7000,b:7001"),
        (
            "redis+sentinel://s1:26379,s2:26379/mymaster",
            "async+redis+sentinel://s1:26379,s2:26379/mymaster",
        ),
    ],
)
def test_redis_urls_are_passed_through_to_limits(url: str, uri: str) -> None:
    assert limits_uri(url) == uri


def test_cluster_and_sentinel_urls_build_without_connecting() -> None:
    for url in ("redis+cluster://127.0.0.1:1,127.0.0.1:2", "redis+sentinel://127.0.0.1:1/main"):
        backend = build_backend(load_settings(redis_url=url))
        assert backend.shared


def _keys(server: RedisServer) -> list[bytes]:
    with redis.Redis.from_url(server.url) as client:
        return list(client.keys("*"))


async def test_redis_keys_are_prefixed_and_hold_no_api_key(redis_server: RedisServer) -> None:
    settings = load_settings(
        redis_url=redis_server.url, account_rpm=5, account_tpm=500, account_concurrency=2
    )
    quotas = QuotaEnforcer(settings)
    account = "9f" * 16  # what the middleware passes: an HMAC of the key, never the key
    outcome = await quotas.check(
        Verdict(account, account, 0.0, Tier.NORMAL), ApiKind.OPENAI_CHAT, 9
    )
    assert outcome.allowed
    keys = [k for k in _keys(redis_server) if account.encode() in k]
    assert keys and all(k.startswith(b"guardgate:quota:") for k in keys)
    assert b"guardgate:quota:streams:{" + account.encode() + b"}" in keys
    await quotas.close()


async def test_memory_quotas_follow_the_deployments_clock() -> None:
    """Replay and clock-driven tests count quotas on their own time: a minute of that clock
    frees the request and the token windows, whatever the wall clock did."""
    clock = [1_800_000_000.0]
    settings = load_settings(account_rpm=2, account_tpm=100)
    quotas = QuotaEnforcer(
        settings, build_backend(settings, clock=lambda: clock[0]), clock=lambda: clock[0]
    )
    verdict = Verdict("acct", "acct", 0.0, Tier.NORMAL)

    async def status(tokens: int) -> int | None:
        return (await quotas.check(verdict, ApiKind.OPENAI_CHAT, tokens)).status

    assert [await status(10), await status(10), await status(10)] == [None, None, 429]
    clock[0] += 61  # a minute later on the clock, no time at all on the wall
    assert await status(10) is None
    assert await status(95) == 429  # the sliding token window still holds part of the last
    clock[0] += 121
    assert await status(95) is None
    refused = await quotas.check(verdict, ApiKind.OPENAI_CHAT, 10)
    assert refused.status == 429 and refused.retry_after is not None
    assert 1 <= refused.retry_after <= 120  # reset times read the same clock
