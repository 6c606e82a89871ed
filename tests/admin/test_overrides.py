"""Operator overrides: the book over both backends, and a change on one replica seen on another."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from tests.admin.admin_client import TOKEN, admin, chat
from tests.gateway import running_mock, running_sidecar

from guardgate.model import Tier, Verdict
from guardgate.overrides import (
    MemoryOverrideBackend,
    OverrideBackend,
    OverrideBook,
    OverrideScope,
    RedisOverrideBackend,
)
from guardgate.testing.redis_server import RedisServer, running_redis


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def backends(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[OverrideBackend, OverrideBackend]]:
    """Two backends that share their state, as two replicas' would."""
    if request.param == "memory":
        shared = MemoryOverrideBackend()
        yield shared, shared
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    a = RedisOverrideBackend(Redis.from_url(server.url), prefix=prefix)
    b = RedisOverrideBackend(Redis.from_url(server.url), prefix=prefix)
    yield a, b
    await a.close()
    await b.close()


def verdict(account: str = "acct", cluster: str = "c1") -> Verdict:
    return Verdict(account, cluster, 0.2, Tier.NORMAL, ("shares a TLS fingerprint",))


async def test_set_apply_clear(backends: tuple[OverrideBackend, OverrideBackend]) -> None:
    clock = Clock()
    one = OverrideBook(backends[0], clock=clock)
    two = OverrideBook(backends[1], clock=clock)
    await one.refresh()
    await two.refresh()
    assert one.apply(verdict()) == verdict()

    await one.set(OverrideScope.CLUSTER, "c1", Tier.EXTRACTOR, note="farm #12")
    # The replica that set it applies it at once; the other after its next poll.
    changed = one.apply(verdict())
    assert changed.tier is Tier.EXTRACTOR
    assert changed.reasons[0] == "operator override on cluster: extractor (farm #12)"
    assert changed.reasons[1:] == ("shares a TLS fingerprint",)
    assert two.apply(verdict()).tier is Tier.NORMAL
    assert await two.refresh()
    assert two.apply(verdict()).tier is Tier.EXTRACTOR
    assert not await two.refresh()  # nothing moved: no reload

    # An account override wins over its cluster's.
    clock.now += 1
    await two.set(OverrideScope.ACCOUNT, "acct", Tier.TRUSTED)
    assert two.apply(verdict()).tier is Tier.TRUSTED
    assert two.apply(verdict("other")).tier is Tier.EXTRACTOR
    await one.refresh()
    assert [o.scope for o in one.active()] == [OverrideScope.ACCOUNT, OverrideScope.CLUSTER]

    assert await one.clear(OverrideScope.CLUSTER, "c1")
    assert not await one.clear(OverrideScope.CLUSTER, "c1")
    await two.refresh()
    assert two.apply(verdict("other")).tier is Tier.NORMAL
    assert two.apply(verdict()).tier is Tier.TRUSTED


async def test_ttl_expires(backends: tuple[OverrideBackend, OverrideBackend]) -> None:
    clock = Clock()
    book = OverrideBook(backends[0], clock=clock)
    await book.refresh()
    await book.set(OverrideScope.ACCOUNT, "acct", Tier.BLOCKED, ttl=60)
    clock.now += 59
    assert book.apply(verdict()).tier is Tier.BLOCKED
    clock.now += 2
    assert book.apply(verdict()).tier is Tier.NORMAL
    assert book.active() == []
    # Clearing an expired override reports that none was in force.
    assert not await book.clear(OverrideScope.ACCOUNT, "acct")


async def test_redis_outage_keeps_last_known(redis_server: RedisServer) -> None:
    with running_redis() as own:
        backend = RedisOverrideBackend(Redis.from_url(own.url, socket_timeout=0.5))
        book = OverrideBook(backend, clock=Clock())
        await book.refresh()
        await book.set(OverrideScope.ACCOUNT, "acct", Tier.BLOCKED)
        own.stop()
        assert not await book.refresh()
        assert book.faults == 1
        assert book.apply(verdict()).tier is Tier.BLOCKED
        own.start()
        await book.refresh()
        # The restarted Redis is empty (no persistence): the replica follows it.
        assert book.apply(verdict()).tier is Tier.NORMAL
        await backend.close()


async def test_malformed_entry_is_skipped(redis_server: RedisServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(redis_server.url)
    backend = RedisOverrideBackend(client, prefix=prefix)
    book = OverrideBook(backend, clock=Clock())
    await book.set(OverrideScope.ACCOUNT, "acct", Tier.BLOCKED)
    await client.hset("{" + prefix + "}:items", "account:bad", "{not json")
    await client.set("{" + prefix + "}:version", "changed")
    await book.refresh()
    assert book.apply(verdict()).tier is Tier.BLOCKED
    assert [o.subject for o in book.active()] == ["acct"]
    await backend.close()


def _wait_for(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():  # type: ignore[operator]
            return
        assert time.monotonic() < deadline, "the change did not reach the other replica"
        time.sleep(0.1)


def test_override_set_on_one_replica_applies_on_another(redis_server: RedisServer) -> None:
    redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
    with (
        running_mock() as mock,
        running_sidecar(mock.url, admin_token=TOKEN, redis_url=redis_url) as one,
        running_sidecar(mock.url, admin_token=TOKEN, redis_url=redis_url) as two,
    ):
        key = f"sk-farm-{uuid.uuid4().hex}"
        assert chat(two.url, key).status_code == 200
        with admin(one.url) as ops_one, admin(two.url) as ops_two:
            account = ops_one.post("accounts/lookup", json={"api_key": key}).json()["account"]
            assert key not in account

            set_at = time.monotonic()
            res = ops_one.put(
                f"overrides/account/{account}", json={"tier": "blocked", "note": "ticket 42"}
            )
            assert res.status_code == 200
            assert res.json()["tier"] == "blocked"
            # Replica one applies it at once.
            blocked = chat(one.url, key)
            assert blocked.status_code == 403
            assert blocked.json()["error"]["type"] != ""
            # Replica two after its poll (GUARDGATE_OVERRIDE_POLL_INTERVAL, 1 s by default).
            _wait_for(lambda: chat(two.url, key).status_code == 403)
            assert time.monotonic() - set_at < 3.0
            assert ops_two.get("overrides").json()["overrides"][0]["note"] == "ticket 42"
            detail = ops_two.get(f"accounts/{account}").json()
            assert detail["tier"] == "blocked"
            assert detail["engine_tier"] == "normal"
            assert detail["override"]["tier"] == "blocked"
            # Another account is untouched.
            assert chat(two.url, f"sk-legit-{uuid.uuid4().hex}").status_code == 200

            assert ops_two.delete(f"overrides/account/{account}").status_code == 200
            _wait_for(lambda: chat(one.url, key).status_code == 200)
            assert ops_one.delete(f"overrides/account/{account}").status_code == 404


def test_bad_override_requests(redis_server: RedisServer) -> None:
    with running_mock() as mock, running_sidecar(mock.url, admin_token=TOKEN) as gate:
        with admin(gate.url) as ops:
            assert ops.put("overrides/account/a", json={"tier": "vip"}).status_code == 400
            assert ops.put("overrides/account/a", content=b"{").status_code == 400
            assert (
                ops.put("overrides/account/a", json={"tier": "blocked", "ttl": -1}).status_code
                == 400
            )
            assert (
                ops.put("overrides/account/a", json={"tier": "blocked", "ttl": "x"}).status_code
                == 400
            )
            assert ops.put("overrides/team/a", json={"tier": "blocked"}).status_code == 404
            assert ops.get("overrides/account/a").status_code == 405
            res = ops.put("overrides/cluster/c9", json={"tier": "trusted", "ttl": 30})
            assert res.status_code == 200
            body = res.json()
            assert body["expires_at"] - body["set_at"] == pytest.approx(30)
        assert httpx.get(gate.url + "/_guardgate/health").json() == {"status": "ok"}


async def test_quota_multipliers_are_shared_and_leave_the_tier(
    backends: tuple[OverrideBackend, OverrideBackend],
) -> None:
    clock = Clock()
    one = OverrideBook(backends[0], clock=clock)
    two = OverrideBook(backends[1], clock=clock)
    await one.refresh()
    await two.refresh()
    assert two.quota_multipliers("acct", "c1") == (1.0, 1.0)
    await one.set(OverrideScope.ACCOUNT, "acct", None, quota=5.0, note="enterprise plan")
    await one.set(OverrideScope.CLUSTER, "c1", Tier.SUSPECT, quota=2.0)
    assert await two.refresh()
    assert two.quota_multipliers("acct", "c1") == (5.0, 2.0)
    assert two.quota_multipliers("other", "c1") == (1.0, 2.0)
    # A quota-only override on the account leaves the tier to its cluster's override.
    assert two.apply(verdict()).tier is Tier.SUSPECT
    stored = {o.subject: o.as_json() for o in two.active()}
    assert stored["acct"]["tier"] is None and stored["acct"]["quota"] == 5.0
    with pytest.raises(ValueError):
        await one.set(OverrideScope.ACCOUNT, "acct", None)


def test_a_big_customer_gets_its_multiplied_quota_on_every_replica(
    redis_server: RedisServer,
) -> None:
    redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
    with (
        running_mock() as mock,
        running_sidecar(mock.url, admin_token=TOKEN, redis_url=redis_url, account_rpm=2) as one,
        running_sidecar(mock.url, admin_token=TOKEN, redis_url=redis_url, account_rpm=2) as two,
    ):
        big, small = f"sk-big-{uuid.uuid4().hex}", f"sk-small-{uuid.uuid4().hex}"
        with admin(one.url) as ops:
            account = ops.post("accounts/lookup", json={"api_key": big}).json()["account"]
            res = ops.put(f"overrides/account/{account}", json={"quota": 3, "note": "contract"})
            assert res.status_code == 200
            assert res.json()["tier"] is None and res.json()["quota"] == 3
            assert ops.put(f"overrides/account/{account}", json={"quota": 0}).status_code == 400
            assert ops.put(f"overrides/account/{account}", json={"quota": "x"}).status_code == 400
        # The other replica sees it after its poll; 3 x 2 requests a minute, shared in Redis.
        time.sleep(1.5)
        statuses = [chat(url, big).status_code for url in (one.url, two.url) * 4]
        assert statuses == [200] * 6 + [429] * 2
        limited = chat(two.url, big)
        assert limited.headers["x-ratelimit-limit-requests"] == "6"
        assert [chat(two.url, small).status_code for _ in range(3)] == [200, 200, 429]
        # The account's tier is still the engine's.
        with admin(two.url) as ops:
            assert ops.get(f"accounts/{account}").json()["tier"] == "normal"
