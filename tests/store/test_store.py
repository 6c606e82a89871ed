"""The store's contract, run against memory, a real Redis and a real 3-node Redis Cluster."""

from __future__ import annotations

import random

import pytest

from guardgate.engine import Engine
from guardgate.settings import GuardgateSettings
from guardgate.store import Link, MemoryStore, RedisStore, StoreLimits, Touch
from guardgate.store import memory as memory_module
from guardgate.store._base import Store

from .conftest import StoreFactory

T0 = 1_700_000_000.0


async def test_who_else_used_a_value_newest_first(make_store: StoreFactory) -> None:
    store = make_store(StoreLimits(sample=2))
    await store.start()
    for i, account in enumerate(["a", "b", "c"]):
        await store.touch(account, T0 + i, ["ip:1.2.3.4", f"own:{account}"])
    touch = await store.touch("d", T0 + 10, ["ip:1.2.3.4", "own:d"])
    shared, own = touch.postings
    assert (shared.value, shared.count, shared.members) == ("ip:1.2.3.4", 4, ("c", "b"))
    assert (own.count, own.members) == (1, ())
    assert touch.active == 4
    assert (touch.cluster, touch.cluster_size, dict(touch.member_clusters)) == ("", 1, {})
    # The account itself never appears among the others, even when it is the newest.
    again = await store.touch("d", T0 + 11, ["ip:1.2.3.4"])
    assert again.postings[0].members == ("c", "b") and again.postings[0].count == 4
    await store.close()


async def test_equal_timestamps_keep_arrival_order(make_store: StoreFactory) -> None:
    store = make_store(StoreLimits(sample=5))
    for account in ["m", "z", "a"]:
        await store.touch(account, T0, ["v"])
    touch = await store.touch("q", T0, ["v"])
    assert touch.postings[0].members == ("a", "z", "m")
    await store.close()


async def test_postings_are_capped_and_old_use_expires(make_store: StoreFactory) -> None:
    store = make_store(StoreLimits(posting_cap=3, sample=10, window=100.0))
    for i in range(6):
        await store.touch(f"acct{i}", T0 + i, ["popular"])
    touch = await store.touch("late", T0 + 6, ["popular"])
    assert touch.postings[0].count == 3
    assert touch.postings[0].members == ("acct5", "acct4")
    later = await store.touch("later", T0 + 6 + 150, ["popular"])
    assert later.postings[0].count == 1 and later.postings[0].members == ()
    assert later.active == 1
    await store.close()


async def test_an_account_is_in_at_most_values_per_account_postings(
    make_store: StoreFactory,
) -> None:
    store = make_store(StoreLimits(values_per_account=3))
    for i in range(5):
        await store.touch("rotating", T0 + i, [f"ip:{i}"])
    # The two oldest values were forgotten for this account: nobody else sees it there.
    seen = [
        (await store.touch(f"probe{i}", T0 + 10 + i, [f"ip:{i}"])).postings[0].members
        for i in range(5)
    ]
    assert seen == [(), (), ("rotating",), ("rotating",), ("rotating",)]
    await store.close()


async def test_links_are_recorded_refreshed_capped_and_expire(make_store: StoreFactory) -> None:
    store = make_store(StoreLimits(links_per_account=2))
    await store.add_links([Link("b", "a", T0), Link("a", "c", T0 + 1)])
    await store.add_links([Link("a", "b", T0 + 5)])  # refreshed
    await store.add_links([Link("a", "b", T0 + 2)])  # an older confirmation changes nothing
    assert await store.links(T0) == [Link("a", "b", T0 + 5), Link("a", "c", T0 + 1)]
    assert await store.links(T0 + 3) == [Link("a", "b", T0 + 5)]
    # A third link pushes a's oldest out of a's list; c still remembers it.
    await store.add_links([Link("a", "d", T0 + 6)])
    assert [(x.a, x.b) for x in await store.links(T0)] == [("a", "b"), ("a", "c"), ("a", "d")]
    await store.close()


async def test_links_keep_the_evidence_weights_of_their_latest_confirmation(
    make_store: StoreFactory,
) -> None:
    store = make_store(StoreLimits(links_per_account=2))
    await store.add_links([Link("b", "a", T0, (0.9, 0.25, 0.0, 0.5))])
    await store.add_links([Link("a", "c", T0 + 1, (0.0, 0.0, 1.0, 0.75))])
    assert await store.links(T0) == [
        Link("a", "b", T0, (0.9, 0.25, 0.0, 0.5)),
        Link("a", "c", T0 + 1, (0.0, 0.0, 1.0, 0.75)),
    ]
    # A newer confirmation brings its own evidence; an older one changes nothing.
    await store.add_links([Link("a", "b", T0 + 5, (0.5, 0.5, 0.0, 0.0))])
    await store.add_links([Link("a", "b", T0 + 3, (1.0, 1.0, 1.0, 1.0))])
    assert (await store.links(T0 + 4)) == [Link("a", "b", T0 + 5, (0.5, 0.5, 0.0, 0.0))]
    # A link pushed out of one account's list keeps the evidence the other account holds.
    await store.add_links([Link("a", "d", T0 + 6, (0.125, 0.0, 0.0, 0.0))])
    assert await store.links(T0) == [
        Link("a", "b", T0 + 5, (0.5, 0.5, 0.0, 0.0)),
        Link("a", "c", T0 + 1, (0.0, 0.0, 1.0, 0.75)),
        Link("a", "d", T0 + 6, (0.125, 0.0, 0.0, 0.0)),
    ]
    # Forgetting an account forgets the evidence of the links it holds (c's link to a was
    # already out of a's list, so c keeps it, as before).
    await store.forget("a")
    await store.add_links([Link("a", "b", T0 + 7)])
    assert await store.links(T0) == [
        Link("a", "b", T0 + 7),
        Link("a", "c", T0 + 1, (0.0, 0.0, 1.0, 0.75)),
    ]
    await store.close()


async def test_clusters_are_replaced_whole_and_reported_on_touch(make_store: StoreFactory) -> None:
    store = make_store(StoreLimits())
    await store.touch("a", T0, ["v"])
    await store.replace_clusters({"a": "c1", "b": "c1", "x": "c2"})
    await store.replace_clusters({"a": "c1", "b": "c1", "d": "c1"})
    assert await store.clusters() == {"a": "c1", "b": "c1", "d": "c1"}
    await store.touch("b", T0 + 1, ["v"])
    touch = await store.touch("e", T0 + 2, ["v"])
    assert (touch.cluster, touch.cluster_size) == ("", 1)
    assert dict(touch.member_clusters) == {"a": "c1", "b": "c1"}
    mine = await store.touch("d", T0 + 3, ["w"])
    assert (mine.cluster, mine.cluster_size) == ("c1", 3)
    await store.close()


async def test_a_lock_is_held_by_one_owner_at_a_time(make_store: StoreFactory) -> None:
    store = make_store(StoreLimits())
    await store.touch("a", T0, ["v"])
    assert await store.acquire("recluster", "replica-1", 30)
    assert not await store.acquire("recluster", "replica-2", 30)
    await store.release("recluster", "replica-2")  # not the holder: no effect
    assert not await store.acquire("recluster", "replica-2", 30)
    await store.release("recluster", "replica-1")
    assert await store.acquire("recluster", "replica-2", 30)
    await store.close()


async def _replay(store: Store, seed: int) -> list[Touch]:
    rng = random.Random(seed)
    accounts = [f"acct{i:02d}" for i in range(40)]
    values = [f"k{k}:{v}" for k in range(4) for v in range(15)]
    out = []
    ts = T0
    for _ in range(600):
        ts += rng.choice([0.0, 0.0, 0.5, 3.0, 40.0])  # ties included on purpose
        chosen = rng.sample(values, rng.randint(1, 6))
        out.append(await store.touch(rng.choice(accounts), ts, chosen))
        if rng.random() < 0.05:
            picked = rng.sample(accounts, 2)
            await store.add_links([Link(picked[0], picked[1], ts)])
        if rng.random() < 0.02:
            await store.replace_clusters({a: f"c{rng.randint(0, 3)}" for a in accounts[:10]})
    return out


async def test_every_backend_answers_exactly_like_memory(make_store: StoreFactory) -> None:
    limits = StoreLimits(window=400.0, posting_cap=7, sample=4, values_per_account=9)
    store = make_store(limits)
    reference = MemoryStore(limits)
    assert await _replay(store, 7) == await _replay(reference, 7)
    assert await store.links(T0) == await reference.links(T0)
    await store.close()


async def test_link_changes_followed_from_a_cursor_give_the_live_links(
    make_store: StoreFactory,
) -> None:
    """Re-clustering reads only what changed: a replica that follows `link_changes` from
    cursor to cursor knows exactly the live links, whatever the store tells it each time."""
    store = make_store(StoreLimits(window=50.0, link_ttl=50.0, links_per_account=3))
    await store.start()
    rng = random.Random(3)
    accounts = [f"acct{i:02d}" for i in range(12)]
    known: dict[tuple[str, str], float] = {}
    cursor = -1
    for step in range(120):
        ts = T0 + step * 2
        picked = rng.sample(accounts, 2)
        await store.add_links([Link(picked[0], picked[1], ts)])  # some evict older links
        await store.touch(rng.choice(accounts), ts, ["v"])  # lets memory sweep idle links
        since = ts - 50.0
        changes = await store.link_changes(since, cursor)
        cursor = changes.cursor
        if step:
            # The changes only: the link added, those it evicted, and (memory) any the sweep
            # found expired, which are no longer live.
            assert not changes.complete
            assert sum(t >= since for t in changes.pairs.values()) <= 3
        if changes.complete:
            known = {}
        known.update(changes.pairs)
        live = {(x.a, x.b): x.ts for x in await store.links(since)}
        assert {p: t for p, t in known.items() if t >= since} == live
    await store.close()


async def test_a_reader_whose_changes_are_gone_reads_every_link(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory_module, "_MAX_LOG", 4)  # memory keeps a short log
    store = make_store(StoreLimits())
    await store.start()
    await store.add_links([Link("a", "b", T0)])
    first = await store.link_changes(T0 - 1, -1)
    assert first.complete and dict(first.pairs) == {("a", "b"): T0}
    for i in range(10):
        await store.add_links([Link(f"x{i}", f"y{i}", T0 + i)])
    if isinstance(store, RedisStore):
        await store.client.xtrim(store._changes, maxlen=0)  # as a long-idle reader would find
    later = await store.link_changes(T0 - 1, first.cursor)
    assert later.complete
    assert set(later.pairs) == {("a", "b"), *((f"x{i}", f"y{i}") for i in range(10))}
    if isinstance(store, RedisStore):
        await store.client.flushall()  # a Redis that lost its data
        lost = await store.link_changes(T0 - 1, later.cursor)
        assert lost.complete and not lost.pairs
    await store.close()


async def test_idle_state_is_forgotten() -> None:
    """Memory mirrors Redis's key expiry: state idle for a whole window goes away."""
    store = MemoryStore(StoreLimits(window=100.0, link_ttl=100.0))
    for i in range(300):
        await store.touch(f"old{i}", T0, [f"ip:{i}", "shared"])
    await store.add_links([Link("old1", "old2", T0)])
    for i in range(3000):
        await store.touch("busy", T0 + 1000 + i, ["ip:busy"])
    assert set(store._postings) == {"ip:busy"}
    assert set(store._profiles) == {"busy"}
    assert await store.links(0.0) == []


@pytest.mark.parametrize("scheme", ["redis", "cluster"])
async def test_engine_uses_redis_from_the_settings_url(
    scheme: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(f"{scheme}_port")
    url = (
        f"redis://127.0.0.1:{port}/0" if scheme == "redis" else f"redis+cluster://127.0.0.1:{port}"
    )
    engine = Engine(GuardgateSettings(secret="s", redis_url=url))
    assert isinstance(engine.store, RedisStore)
    await engine.start()
    touch = await engine.store.touch(f"acct-{scheme}", T0, ["ip:192.0.2.1"])
    assert touch.active >= 1 and touch.postings[0].value == "ip:192.0.2.1"
    await engine.close()


async def test_a_forgotten_account_leaves_no_trace(make_store: StoreFactory) -> None:
    store = make_store(StoreLimits(sample=5))
    await store.start()
    await store.touch("a", T0, ["ip:1.2.3.4", "own:a"])
    await store.touch("b", T0 + 1, ["ip:1.2.3.4", "own:b"])
    await store.add_links([Link("a", "b", T0 + 1)])
    assert await store.forget("b")
    touch = await store.touch("c", T0 + 2, ["ip:1.2.3.4", "own:b"])
    shared, own_b = touch.postings
    assert (shared.count, shared.members) == (2, ("a",))
    assert (own_b.count, own_b.members) == (1, ())
    assert touch.active == 2
    assert await store.links(T0) == []
    changes = await store.link_changes(T0, 0)
    assert all(ts == float("-inf") for ts in changes.pairs.values()) or not changes.pairs
    assert not await store.forget("never-seen")
    await store.close()


async def test_past_max_accounts_the_longest_idle_is_evicted() -> None:
    store = MemoryStore(StoreLimits(max_accounts=3))
    for i, account in enumerate(["a", "b", "c", "d", "e"]):
        await store.touch(account, T0 + i, ["ip:1.2.3.4"])
    touch = await store.touch("c", T0 + 10, ["ip:1.2.3.4"])
    assert touch.active == 3
    assert touch.postings[0].members == ("e", "d")
    assert store.evicted == ["a", "b"]


async def test_memory_expires_idle_accounts_a_few_at_a_time() -> None:
    """No touch pays for checking thousands of keys: expired profiles are dropped in small
    batches as requests come (512 at once made 1.6% of requests 0.4 ms slower at 100k)."""
    store = MemoryStore(StoreLimits(window=100.0))
    for i in range(3000):
        await store.touch(f"idle-{i}", T0, [f"own:{i}"])
    most = 0
    for i in range(3000):
        known = store.accounts
        await store.touch("busy", T0 + 200 + i, ["own:busy"])
        most = max(most, known - store.accounts)
    assert store.accounts == 1  # every idle account expired
    assert most <= 64
