"""`RedisStore`: linking state shared by replicas, in Redis or Redis Cluster.

Every key carries one hash tag (`{<prefix>}`), so all of them live in one slot: the per-request
update is one Lua call (one round trip, atomic), and Redis Cluster never sees a cross-slot
command. The price is that linking state lives on one shard; at the documented bound of under
14 KB per tracked account that is about 1.4 GB per 100,000 accounts active within the window.

Key layout (`P` = `{prefix}`): `P:act` active accounts, `P:p:<account>` profile, `P:v:<value>`
posting, `P:e:<account>` links, `P:ew:<account>` their evidence weights, `P:ei` accounts with
links, `P:elog` the links changed (a stream capped at 10,000 entries, some 6 MB, read by
incremental re-clustering), `P:clu` / `P:csz` cluster ids and sizes, `P:lock:<name>` locks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, ResponseError

from guardgate.store._base import (
    Link,
    LinkChanges,
    Posting,
    StoreLimits,
    Touch,
    cluster_sizes,
    decode_weights,
    encode_weights,
    link_key,
    newest_links,
)

_CHUNK = 500
_LINK_CHUNK = 200  # links per Lua call: its arguments stay well under Lua's stack limit
# Change-log entries kept (one per link write, some 0.6 KB each): about a week of writes at one
# a minute; a reader further behind reads every link instead.
_LOG_LENGTH = 10_000
_NEVER = float("-inf")


def _script(name: str) -> str:
    return resources.files("guardgate.store").joinpath("lua", name).read_text()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _position(stream_id: Any) -> int:
    """A stream entry id (`<ms>-<seq>`) as one increasing integer (the store's cursor)."""
    ms, _, seq = _text(stream_id).partition("-")
    return (int(ms) << 32) | int(seq or 0)


def _stream_id(position: int) -> str:
    return f"{position >> 32}-{position & 0xFFFFFFFF}"


def connect(url: str, timeout: float) -> Redis | RedisCluster:
    """A client for a `redis://`, `rediss://`, `unix://`, `redis+cluster://` or
    `redis+sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]` URL (the master
    the sentinels name, found again after a fail-over).

    Every call waits at most `timeout` per attempt, and a failed one is retried once at once (a
    connection that died with a Redis restart), never with a back-off that would hold a request.
    """
    if url.startswith("redis+sentinel://"):
        return _sentinel_master(url, timeout)
    if url.startswith("redis+cluster://"):
        return RedisCluster.from_url(
            "redis://" + url.removeprefix("redis+cluster://"),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
    return Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
    )


def _sentinel_master(url: str, timeout: float) -> Redis:
    parts = urlsplit(url)
    hosts = []
    for location in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = location.rpartition(":")
        hosts.append((host or location, int(port) if host else 26379))
    service, _, db = parts.path.strip("/").partition("/")
    password = unquote(parts.password) if parts.password else None
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    sentinel = Sentinel(hosts, sentinel_kwargs={**options, "password": password}, **options)
    master: Redis = sentinel.master_for(
        service, password=password, db=int(db or 0), retry=Retry(NoBackoff(), 1), **options
    )
    return master


async def close(client: Redis | RedisCluster) -> None:
    """Close a client from `connect` and its pool (for Sentinel, its connections to the
    sentinels too)."""
    await client.aclose()
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


def share(client: Redis | RedisCluster) -> Redis | RedisCluster:
    """A client for one part of a deployment on `client`'s connection pool: its `aclose` gives
    back its own connection and leaves the pool to the deployment. A cluster client (a pool per
    node) is shared as it is."""
    if isinstance(client, Redis):
        return Redis(connection_pool=client.connection_pool)
    return client


class RedisStore:
    """Linking state in Redis; the same answers as `MemoryStore` on the same input."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        limits: StoreLimits | None = None,
        *,
        prefix: str = "guardgate:link",
    ) -> None:
        self.limits = limits if limits is not None else StoreLimits()
        self.client = client
        self.round_trips = 0
        """Requests sent to Redis (a pipeline counts once); read by the benchmark."""
        tag = "{" + prefix + "}"
        self._active = f"{tag}:act"
        self._profile = f"{tag}:p:"
        self._posting = f"{tag}:v:"
        self._links = f"{tag}:e:"
        self._weights = f"{tag}:ew:"
        self._linked = f"{tag}:ei"
        self._clusters = f"{tag}:clu"
        self._sizes = f"{tag}:csz"
        self._lock = f"{tag}:lock:"
        self._changes = f"{tag}:elog"
        self._touch_src = _script("touch.lua")
        self._release_src = _script("release.lua")
        self._links_src = _script("links.lua")
        self._forget_src = _script("forget.lua")
        self._forget_sha = ""
        self._links_sha = ""
        self._touch_sha = ""
        self._release_sha = ""

    async def start(self) -> None:
        """Load the scripts (on every primary, for a cluster)."""
        self._touch_sha = _text(await self.client.script_load(self._touch_src))
        self._release_sha = _text(await self.client.script_load(self._release_src))
        self._links_sha = _text(await self.client.script_load(self._links_src))
        self._forget_sha = _text(await self.client.script_load(self._forget_src))

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    async def _eval(self, sha: str, src: str, keys: list[str], args: list[Any]) -> Any:
        self.round_trips += 1
        try:
            return await self.client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            # A restarted or failed-over Redis forgets scripts: send the source once more.
            self.round_trips += 1
            return await self.client.eval(src, len(keys), *keys, *args)

    async def touch(self, account: str, ts: float, values: Sequence[str]) -> Touch:
        """Record `values` for `account` at `ts`: one Lua call."""
        if not self._touch_sha:
            await self.start()
        limits = self.limits
        values = list(dict.fromkeys(values))
        keys = [self._active, self._profile + account, self._clusters, self._sizes]
        keys.extend(self._posting + v for v in values)
        args: list[Any] = [
            account,
            repr(float(ts)),
            repr(float(limits.window)),
            limits.posting_cap,
            limits.sample,
            limits.values_per_account,
            self._posting,
            *values,
        ]
        reply = await self._eval(self._touch_sha, self._touch_src, keys, args)
        active, cluster, size, flat, pairs = reply
        postings = tuple(
            Posting(value, int(flat[2 * i]), tuple(_text(m) for m in flat[2 * i + 1]))
            for i, value in enumerate(values)
        )
        member_clusters = {_text(pairs[i]): _text(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        cid = _text(cluster)
        return Touch(
            active=int(active),
            cluster=cid,
            cluster_size=int(size),
            postings=postings,
            member_clusters=member_clusters,
        )

    async def forget(self, account: str) -> bool:
        """Drop the account's profile, its place in postings and links: one Lua call."""
        if not self._forget_sha:
            await self.start()
        keys = [self._active, self._profile + account, self._links + account]
        keys += [self._linked, self._changes, self._weights + account]
        args: list[Any] = [account, self._posting, self._links, _LOG_LENGTH, self._weights]
        return bool(await self._eval(self._forget_sha, self._forget_src, keys, args))

    async def add_links(self, links: Sequence[Link]) -> None:
        """Record or refresh links, one Lua call per chunk (not on the request path), and log
        the pairs that changed for `link_changes`."""
        if not self._links_sha:
            await self.start()
        limits = self.limits
        ttl_ms = math.ceil(limits.link_ttl * 1000)
        for start in range(0, len(links), _LINK_CHUNK):
            chunk = links[start : start + _LINK_CHUNK]
            newest = max(link.ts for link in chunk)
            keys = [self._linked, self._changes]
            args: list[Any] = [
                limits.links_per_account,
                ttl_ms,
                f"({newest - limits.link_ttl!r}",
                _LOG_LENGTH,
            ]
            for link in chunk:
                for x, y in ((link.a, link.b), (link.b, link.a)):
                    keys.extend((self._links + x, self._weights + x))
                    args.extend((x, y, repr(float(link.ts)), encode_weights(link.weights)))
            await self._eval(self._links_sha, self._links_src, keys, args)

    async def link_changes(self, since: float, cursor: int) -> LinkChanges:
        """The links changed since `cursor` (the log entry last read), read back from both
        accounts' links; every live link when the log cannot tell (first call, or the entry at
        `cursor` is gone: the log was trimmed past it, or Redis lost its data)."""
        self.round_trips += 1
        try:
            info = await self.client.xinfo_stream(self._changes)
        except ResponseError:  # no log (yet, or any more)
            info = None
        last = _position(info["last-generated-id"]) if info else 0
        entries: Any = ()
        if info is not None and 0 < cursor <= last:
            # Trimming drops the oldest entries first: while the entry at the cursor is
            # there, every later one is too.
            self.round_trips += 1
            entries = await self.client.xrange(
                self._changes, min=_stream_id(cursor), max=_stream_id(last)
            )
        if not entries or _position(entries[0][0]) != cursor:
            return LinkChanges(cursor=last, pairs=await self._link_pairs(since), complete=True)
        pairs: dict[tuple[str, str], float] = {}
        for _, fields in entries[1:]:
            named = {_text(k): _text(v) for k, v in (fields or {}).items()}
            for k in range(1, len(named) // 2 + 1):
                pairs[link_key(named[f"a{k}"], named[f"b{k}"])] = _NEVER
        # Only which pairs changed comes from the log; their times are read back now.
        ordered = list(pairs)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            pipe = self.client.pipeline(transaction=False)
            for a, b in chunk:
                pipe.zscore(self._links + a, b)
                pipe.zscore(self._links + b, a)
            self.round_trips += 1
            scores = await pipe.execute()
            for i, pair in enumerate(chunk):
                ab, ba = scores[2 * i], scores[2 * i + 1]
                pairs[pair] = max(
                    float(ab) if ab is not None else _NEVER,
                    float(ba) if ba is not None else _NEVER,
                )
        return LinkChanges(cursor=last, pairs=pairs, complete=False)

    async def links(self, since: float) -> list[Link]:
        """Every link confirmed at or after `since` with its evidence weights (reads in
        chunks)."""
        raw = await self.client.zrangebyscore(self._linked, since, "+inf")
        accounts = [_text(a) for a in raw]
        self.round_trips += 1
        directions: list[tuple[str, str, float, tuple[float, ...]]] = []
        for start in range(0, len(accounts), _CHUNK):
            chunk = accounts[start : start + _CHUNK]
            pipe = self.client.pipeline(transaction=False)
            for x in chunk:
                pipe.zrangebyscore(self._links + x, since, "+inf", withscores=True)
                pipe.hgetall(self._weights + x)
            self.round_trips += 1
            answers = await pipe.execute()
            for i, x in enumerate(chunk):
                weights = {_text(k): _text(v) for k, v in answers[2 * i + 1].items()}
                for y, ts in answers[2 * i]:
                    other = _text(y)
                    directions.append((x, other, float(ts), decode_weights(weights.get(other, ""))))
        return newest_links(directions)

    async def _link_pairs(self, since: float) -> dict[tuple[str, str], float]:
        raw = await self.client.zrangebyscore(self._linked, since, "+inf")
        accounts = [_text(a) for a in raw]
        self.round_trips += 1
        pairs: dict[tuple[str, str], float] = {}
        for start in range(0, len(accounts), _CHUNK):
            chunk = accounts[start : start + _CHUNK]
            pipe = self.client.pipeline(transaction=False)
            for x in chunk:
                pipe.zrangebyscore(self._links + x, since, "+inf", withscores=True)
            self.round_trips += 1
            for x, entries in zip(chunk, await pipe.execute(), strict=True):
                for y, ts in entries:
                    key = link_key(x, _text(y))
                    if pairs.get(key, float("-inf")) < float(ts):
                        pairs[key] = float(ts)
        return pairs

    async def clusters(self) -> dict[str, str]:
        """Account -> cluster id for every clustered account."""
        self.round_trips += 1
        raw = await self.client.hgetall(self._clusters)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def replace_clusters(self, assignment: Mapping[str, str]) -> None:
        """Replace all assignments in one MULTI (readers see the old or the new, never a mix)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self._clusters, self._sizes)
        items = list(assignment.items())
        for start in range(0, len(items), _CHUNK):
            pipe.hset(self._clusters, mapping=dict(items[start : start + _CHUNK]))
        sizes = cluster_sizes(assignment)
        if sizes:
            pipe.hset(self._sizes, mapping=sizes)  # type: ignore[arg-type]
        self.round_trips += 1
        await pipe.execute()

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """SET NX PX: the lock is one replica's until it releases it or `ttl` passes."""
        self.round_trips += 1
        key = self._lock + name
        if await self.client.set(key, owner, nx=True, px=math.ceil(ttl * 1000)):
            return True
        if _text(await self.client.get(key) or b"") == owner:
            await self.client.pexpire(key, math.ceil(ttl * 1000))
            return True
        return False

    async def release(self, name: str, owner: str) -> None:
        """Delete the lock if `owner` still holds it (checked and deleted atomically)."""
        if not self._release_sha:
            await self.start()
        await self._eval(self._release_sha, self._release_src, [self._lock + name], [owner])
