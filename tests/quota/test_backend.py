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
