"""Memory for tracked accounts: the engine's state (linking store + scoring features) and the
admin activity log, in memory and in Redis.

    python benchmarks/bench_memory.py [--accounts 100000] [--requests-per-account 2]
    python benchmarks/bench_memory.py --state redis --accounts 1000000 --real 9000 [--validate]

Memory state (`--state memory`, and the first Redis figure of the default `--state both`): each
account sends a few requests with realistic evidence: its own IP in a shared /24, one of a few
hundred client fingerprints, parameters, a system prompt shared by an app, a prompt sketch.
Memory state: the Python heap growth of the process (tracemalloc) and its RSS growth. Redis
state: `used_memory` growth of a fresh redis-server (started on a free port), plus the process's
own heap for what stays per replica (the activity log).

`--state redis` measures everything guardgate writes to Redis at up to 1,000,000 accounts,
fast: `--real` accounts (a multiple of 1,000) send their requests as a door hands them to the
gate (headers, peer, body: detection, overrides, policy, account and cluster quotas, settlement)
against a fresh redis-server; then every key they left is copied under new names of the same
length (DUMP/RESTORE of each account's keys and of the postings of values only it used; its
members added to the postings of values accounts share, up to their cap, and to the
deployment-wide sets: active accounts, accounts with links, clusters, prompts seen, the change
log) until `--accounts`; then `INFO memory`, `MEMORY STATS` and the key count. `--validate` also
runs `--accounts` real accounts on a second server and prints both, to check the copying.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import random
import re
import shutil
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest, InlineDetection
from guardgate.model import ApiKind, Observation
from guardgate.settings import load_settings
from guardgate.testing import running_redis
from guardgate.usage import Usage

SECRET = "bench-secret-0123456789abcdef"
START = 1_793_577_600.0
ELOG_LENGTH = 10_000
"""Entries the linking store's change log keeps (`store.redis._LOG_LENGTH`)."""


def observations(accounts: int, per_account: int, seed: int = 1) -> list[Observation]:
    """`per_account` requests from each of `accounts` accounts over an hour, in time order."""
    rng = random.Random(seed)
    out = []
    total = accounts * per_account
    for i in range(total):
        a = i % accounts
        ip = f"{10 + a % 200}.{(a // 200) % 250}.{(a // 50_000) % 250}.{a % 250}"
        out.append(
            Observation(
                ts=START + i * 3600 / total,
                api=ApiKind.OPENAI_CHAT,
                account=f"{a:024x}",
                client_ip=ip,
                ip_prefix=ip.rsplit(".", 1)[0] + ".0/24",
                model="gpt-x",
                stream=a % 2 == 0,
                user_agent=f"OpenAI/Python 1.{a % 40}.0",
                header_order_hash=f"{a % 300:016x}",
                param_signature=f"{a % 50:016x}",
                key_order_hash=f"{a % 20:016x}",
                system_hash=f"{a % 1000:016x}" if a % 3 else "",
                template_sketch=tuple(rng.getrandbits(60) for _ in range(12)),
                template_hash=f"{rng.getrandbits(64):016x}",
                capability="chat",
                turns=1 + a % 4,
            )
        )
    return out


def rss_mb() -> float:
    """This process's resident memory, in MB."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


async def run(
    obs: list[Observation], redis_url: str | None, trace: bool = True
) -> tuple[float, float, float]:
    """(heap MB, RSS MB, Redis MB) added by tracking the observations' accounts."""
    # A generous Redis timeout: tracemalloc slows this process several times over.
    settings = load_settings(secret=SECRET, redis_url=redis_url or "", redis_timeout=10.0)
    guard = Deployment.from_settings(settings, lambda: obs[-1].ts)
    await guard.start()
    detection = guard.detection
    assert isinstance(detection, InlineDetection)
    redis = Redis.from_url(redis_url) if redis_url else None
    if redis is not None:
        await redis.flushall()
        before_redis = int((await redis.info("memory"))["used_memory"])
    gc.collect()
    rss_before = rss_mb()
    if trace:
        tracemalloc.start()
    batch = 16 if redis_url else 1

    async def one(o: Observation) -> None:
        # The gate's steps on an observation: the engine (and the fail-open memory), policy and
        # the activity record.
        verdict = await detection.observe(o)
        decision = guard.gate.policy.decide(guard.overrides.apply(verdict))
        detection.activity.record(o, decision, engine_tier=verdict.tier)

    for start in range(0, len(obs), batch):
        await asyncio.gather(*(one(o) for o in obs[start : start + batch]))
    await detection.drain()
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] / 2**20 if trace else 0.0
    tracemalloc.stop()
    rss = rss_mb() - rss_before
    redis_mb = 0.0
    if redis is not None:
        redis_mb = (int((await redis.info("memory"))["used_memory"]) - before_redis) / 2**20
        await redis.aclose()
    await guard.close()
    return heap, rss, redis_mb


# ---------------------------------------------------------------------------------------------
# --state redis: every key guardgate writes to Redis, at up to 1,000,000 accounts
# ---------------------------------------------------------------------------------------------

POOL_PERIOD = 1000
"""Every shared value of `gate_requests` (client, parameters, system prompt) repeats with this
period in the account index: a population of a multiple of it, copied, has exactly the shares of
a population as many times larger."""
_WORDS = [
    "".join(random.Random(i).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3 + i % 7))
    for i in range(20_000)
]
_ORDERS = [
    perm
    for _, perm in zip(
        range(20),
        itertools.permutations(("model", "messages", "temperature", "max_tokens")),
        strict=False,
    )
]


def farm_of(a: int) -> int | None:
    """The farm of account `a`: one account in ten is in a farm of ten (accounts 0-9 of each
    hundred), farm `a // 100`."""
    return a // 100 if (a // 10) % 10 == 0 else None


def gate_requests(
    accounts: int, per_account: int, seed: int = 1
) -> Iterator[tuple[int, float, GateRequest]]:
    """`per_account` requests of each of `accounts` accounts over an hour, in time order, as a
    door hands them to the gate, with the account's index.

    Nine accounts in ten are independent: an address and /24 of their own, one of 40 SDK
    versions and 200 header orders, one of 50 parameter sets in one of 20 key orders, one of
    1,000 apps' system prompts (three in four), a prompt of their own each time (40-80 words of a
    20,000-word vocabulary). One in ten is in a farm of ten (`farm_of`) that shares a /24, its
    own client, parameters and system prompt, and one prompt template with 10 words filled in:
    they link, so links, their weights and clusters are written too."""
    rng = random.Random(seed)
    total = accounts * per_account
    for i in range(total):
        a = i % accounts
        farm = farm_of(a)
        if farm is None:
            ip = f"{10 + a % 200}.{(a // 200) % 250}.{(a // 50_000) % 250}.{a % 250}"
            agent, header = f"OpenAI/Python 1.{a % 40}.0", f"x-client-{a % 200}"
            system = f"You are app {a % 1000}'s assistant." if a % 4 else ""
            prompt = " ".join(rng.choice(_WORDS) for _ in range(40 + rng.randrange(40)))
            temperature, max_tokens = (a % 50) / 50, 1000 + 1000 * (a % 5)
        else:
            ip = f"172.{farm % 250}.{(farm // 250) % 250}.{1 + a % 10}"
            agent, header = f"harvest/{farm}", "x-farm"
            system = f"You are worker {farm}. Think step by step and show all of your reasoning."
            slots = " ".join(rng.choice(_WORDS) for _ in range(10))
            prompt = _TEMPLATE.format(slots)
            temperature, max_tokens = 0.7, 16_000 + farm % 1000
        headers = [
            (b"host", b"api.example.com"),
            (b"authorization", f"Bearer sk-bench-{a:012d}".encode()),
            (b"content-type", b"application/json"),
            (b"user-agent", agent.encode()),
            (header.encode(), b"1"),
        ]
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        values: dict[str, Any] = {
            "model": "gpt-x",
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        body = {key: values[key] for key in _ORDERS[a % 20]}
        raw = json.dumps(body).encode()
        yield a, START + i * 3600 / total, GateRequest(ApiKind.OPENAI_CHAT, headers, ip, raw, body)


_TEMPLATE = (
    "You are an expert software engineer. Solve the following task completely and explain "
    "every step of your reasoning before the final answer, then list the edge cases you "
    "considered and how you tested them. Task: {}. Write the full solution in Python."
)


async def run_gate(
    accounts: int, per_account: int, redis_url: str
) -> tuple[float, dict[bytes, int]]:
    """Take every request of `gate_requests` through a deployment's gate against `redis_url`
    (detection, overrides, policy, account and cluster quotas, the activity record), settle
    each with a 300-token answer, and write what is queued: (seconds, account id -> farm)."""
    now = [START]
    settings = load_settings(
        secret=SECRET,
        redis_url=redis_url,
        redis_timeout=10.0,
        account_rpm=1000,
        account_tpm=1_000_000,
        cluster_rpm=10_000,
    )
    deployment = Deployment.from_settings(settings, lambda: now[0])
    await deployment.start()
    gate = deployment.gate
    farms: dict[bytes, int] = {}
    started = time.perf_counter()

    async def one(request: GateRequest) -> None:
        admission = await gate.admit(request, hold_stream=False)
        await gate.settle(admission, Usage(completion_tokens=300, prompt_tokens=120))

    batch: list[GateRequest] = []
    for a, ts, request in gate_requests(accounts, per_account):
        farm = farm_of(a)
        if farm is not None:
            account = deployment.observer.sender(request.headers, request.peer).account
            farms[account.encode()] = farm
        if not batch:
            now[0] = ts
        batch.append(request)
        if len(batch) == 16:
            await asyncio.gather(*(one(r) for r in batch))
            batch = []
    await asyncio.gather(*(one(r) for r in batch))
    # Re-cluster at the end, as the background work would have by now.
    await deployment.detection.recluster(now[0] + 3600)
    await deployment.detection.drain()
    await deployment.close()
    return time.perf_counter() - started, farms


@dataclass
class RedisFigures:
    """What a redis-server holds: `INFO memory` and key counts."""

    used: int
    rss: int
    dataset: int
    keys: int
    quota_keys: int
    quota_bytes: int

    @classmethod
    async def read(cls, client: Redis) -> RedisFigures:
        """Read them (quota counters: their keys and `MEMORY USAGE`, for they live one window)."""
        await client.execute_command("MEMORY", "PURGE")
        info = await client.info("memory")
        stats = await client.memory_stats()
        quota_keys = quota_bytes = 0
        async for key in client.scan_iter(match=b"*guardgate:quota*", count=1000):
            quota_keys += 1
            quota_bytes += int(await client.memory_usage(key, samples=0) or 0)
        return cls(
            used=int(info["used_memory"]),
            rss=int(info["used_memory_rss"]),
            dataset=int(stats["dataset.bytes"]),
            keys=int(await client.dbsize()),
            quota_keys=quota_keys,
            quota_bytes=quota_bytes,
        )


class Renamer:
    """A copy's names: each id or value gets a new one of the same length and character classes
    (same memory), the same one wherever it appears in the copy. Names with few characters to
    vary (addresses) are checked against every name given out and every original one."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.names: dict[bytes, bytes] = {}
        self.taken: set[bytes] = set()

    def keep(self, name: bytes) -> None:
        """Never give out `name` (an original)."""
        if _variable(name) <= _FEW:
            self.taken.add(name)

    def next_copy(self) -> None:
        """Start a new copy: every name gets a new one again."""
        self.names = {}

    def __call__(self, name: bytes) -> bytes:
        new = self.names.get(name)
        if new is None:
            check = _variable(name) <= _FEW
            while True:
                if not name.translate(None, _HEX):  # an id or hash: all of it varies
                    new = self.rng.randbytes(len(name)).translate(_TO_HEX)
                else:
                    new = bytes(self._char(c) for c in name)
                if not check or new not in self.taken:
                    break
            if check:
                self.taken.add(new)
            self.names[name] = new
        return new

    def _char(self, c: int) -> int:
        if 48 <= c <= 57:
            return self.rng.randrange(48, 58)
        if 97 <= c <= 102:
            return self.rng.choice(b"0123456789abcdef")
        return c


_FEW = 14
_HEX = b"0123456789abcdef"
_TO_HEX = bytes(_HEX[i % 16] for i in range(256))


def _variable(name: bytes) -> int:
    """Characters of `name` a copy varies (digits and hex letters)."""
    return len(name) - len(name.translate(None, _HEX))


_ACCOUNT = re.compile(rb"[0-9a-f]{24}")
LINK = b"{guardgate:link}"
SCORE = b"{guardgate:score}"


@dataclass
class Snapshot:
    """The keys a real run left, classified for copying."""

    own: list[tuple[bytes, bytes, bytes, int]]
    """(prefix, name, DUMP, PTTL) of keys that belong to one account or one farm: a copy gets a
    key of its own (profile, links, scoring state, postings of values only they used)."""
    shared: dict[bytes, list[tuple[bytes, float]]]
    """Postings of values several accounts share: a copy adds its own members."""
    members: dict[bytes, list[tuple[bytes, bytes]]]
    """Deployment-wide structures listing accounts, prompts or clusters (key -> their entries)."""
    stream: list[dict[bytes, bytes]]
    cap: int


async def snapshot(client: Redis, posting_cap: int, farms: dict[bytes, int]) -> Snapshot:
    """Read what the real run wrote (quota counters left out: they live one window). A posting
    shared by the accounts of one farm only is that farm's: a copy gets one of its own."""
    own: list[tuple[bytes, bytes, bytes, int]] = []
    shared: dict[bytes, list[tuple[bytes, float]]] = {}
    members: dict[bytes, list[tuple[bytes, bytes]]] = {}
    stream: list[dict[bytes, bytes]] = []
    keys = [k async for k in client.scan_iter(count=1000) if b"guardgate:quota" not in k]
    postings = [k for k in keys if k.startswith(LINK + b":v:")]
    for start in range(0, len(postings), 1000):
        chunk = postings[start : start + 1000]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.zrange(key, 0, -1, withscores=True)
        for key, entries in zip(chunk, await pipe.execute(), strict=True):
            owners = {farms.get(m, -1 - n) for n, (m, _) in enumerate(entries)}
            if len(owners) > 1:
                shared[key] = entries
    copied = []
    for key in keys:
        tag, _, rest = key.partition(b"}:")
        kind, _, name = rest.partition(b":")
        if (tag + b"}", kind) in _OWN and key not in shared:
            copied.append((key, key[: len(key) - len(name)], name))
        elif kind == b"elog":
            stream = [fields for _, fields in await client.xrange(key)]
        elif kind in (b"act", b"ps", b"ei"):
            entries = await client.zrange(key, 0, -1, withscores=True)
            members[key] = [(m, repr(s).encode()) for m, s in entries]
        elif kind in (b"clu", b"csz"):
            members[key] = list((await client.hgetall(key)).items())
        # The models seen, the first request's time and locks: one key per deployment.
    for start in range(0, len(copied), 1000):
        chunk = copied[start : start + 1000]
        pipe = client.pipeline(transaction=False)
        for key, _, _ in chunk:
            pipe.dump(key)
            pipe.pttl(key)
        replies = await pipe.execute()
        for n, (_, prefix, name) in enumerate(chunk):
            own.append((prefix, name, replies[2 * n], max(0, replies[2 * n + 1])))
    return Snapshot(own, shared, members, stream, posting_cap)


_OWN = {(LINK, b"p"), (LINK, b"e"), (LINK, b"ew"), (LINK, b"v"), (SCORE, b"a")}
"""Key families of one account (profile, links, their weights, scoring state) or of a value
one account (or one farm) used."""


async def families(client: Redis) -> dict[str, tuple[int, int]]:
    """Keys and `MEMORY USAGE` bytes by key family (postings of one account apart)."""
    out: dict[str, list[int]] = {}
    keys = [k async for k in client.scan_iter(count=1000)]
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.memory_usage(key, samples=0)
            pipe.type(key)
            pipe.zcard(key) if key.startswith(LINK + b":v:") else pipe.ping()
        replies = await pipe.execute()
        for n, key in enumerate(chunk):
            if b"guardgate:quota" in key:
                family = "quota"
            else:
                tag, _, rest = key.partition(b"}:")
                family = tag.decode() + "}:" + rest.partition(b":")[0].decode()
                if family.endswith(":v"):
                    family += " (1 member)" if replies[3 * n + 2] == 1 else " (shared)"
            row = out.setdefault(family, [0, 0])
            row[0] += 1
            row[1] += int(replies[3 * n] or 0)
    return {name: (row[0], row[1]) for name, row in sorted(out.items())}


async def replicate(client: Redis, snap: Snapshot, copies: int, seed: int = 7) -> None:
    """Add `copies` copies of the snapshot's accounts under new names, in pipelines."""
    rename = Renamer(seed)
    for _, name, _, _ in snap.own:
        rename.keep(name)
    for key, shared in snap.shared.items():
        rename.keep(key)
        for m, _ in shared:
            rename.keep(m)
    for entries in snap.members.values():
        for m, _ in entries:
            rename.keep(m)
    full: set[bytes] = set()
    for k in range(copies):
        rename.next_copy()
        pipe = client.pipeline(transaction=False)
        queued = 0

        async def flush(force: bool = False) -> None:
            nonlocal pipe, queued
            if queued >= 2000 or (force and queued):
                await pipe.execute()
                pipe = client.pipeline(transaction=False)
                queued = 0

        for prefix, name, dump, ttl in snap.own:
            pipe.restore(prefix + rename(name), ttl, dump)
            queued += 1
            await flush()
        for key, entries in snap.shared.items():
            if key in full:
                continue  # at its cap: more members only replace the oldest
            if len(entries) * (k + 2) >= snap.cap:
                full.add(key)
            pipe.zadd(key, {rename(m): s for m, s in entries})
            pipe.zremrangebyrank(key, 0, -snap.cap - 1)
            queued += 2
            await flush()
        for key, entries in snap.members.items():
            kind = key.rpartition(b":")[2]
            for start in range(0, len(entries), 500):
                chunk = entries[start : start + 500]
                if kind in (b"act", b"ps", b"ei"):
                    pipe.zadd(key, {rename(m): float(s) for m, s in chunk})
                elif kind == b"clu":
                    pipe.hset(key, mapping={rename(m): rename(v) for m, v in chunk})
                else:
                    pipe.hset(key, mapping={rename(m): v for m, v in chunk})
                queued += 1
                await flush()
        elog = LINK + b":elog"
        for fields in snap.stream:
            pipe.xadd(
                elog,
                {f: _ACCOUNT.sub(lambda m, r=rename: r(m.group()), v) for f, v in fields.items()},
                maxlen=ELOG_LENGTH,
                approximate=True,
            )
            queued += 1
            await flush()
        await flush(force=True)


def redis_state(accounts: int, real: int, per_account: int, validate: bool) -> None:
    """Print what Redis holds for `accounts` accounts: `real` of them run through the gate, the
    rest copied; with `validate`, `accounts` real ones too."""
    if real % POOL_PERIOD or accounts % real:
        raise SystemExit(f"--real must be a multiple of {POOL_PERIOD}, --accounts of --real")
    rows: list[tuple[str, int, RedisFigures, float]] = []
    breakdown: list[tuple[str, dict[str, tuple[int, int]]]] = []

    async def measure(url: str, run: int, copies: int) -> None:
        client = Redis.from_url(url)
        await client.flushall()
        base = await RedisFigures.read(client)
        seconds, farms = await run_gate(run, per_account, url)
        # Quota counters live one window: counted (how many are live at the end), then dropped
        # so that the figures are the state of the tracked accounts, copied or not.
        after = await RedisFigures.read(client)
        quota = [k async for k in client.scan_iter(match=b"*guardgate:quota*", count=1000)]
        for start in range(0, len(quota), 1000):
            await client.delete(*quota[start : start + 1000])
        state = _minus(await RedisFigures.read(client), base)
        state.quota_keys, state.quota_bytes = after.quota_keys, after.quota_bytes
        rows.append((f"real ({run} run)", run, state, seconds))
        breakdown.append((f"{run} real", await families(client)))
        if copies:
            started = time.perf_counter()
            snap = await snapshot(client, 512, farms)
            await replicate(client, snap, copies)
            copied = await RedisFigures.read(client)
            seconds += time.perf_counter() - started
            rows.append((f"copied from {run}", run * (copies + 1), _minus(copied, base), seconds))
            if validate:
                breakdown.append((f"{run * (copies + 1)} copied", await families(client)))
        await client.aclose()

    with running_redis() as server:
        asyncio.run(measure(server.url, real, accounts // real - 1))
    if validate:
        with running_redis() as server:
            asyncio.run(measure(server.url, accounts, 0))
    print(
        f"\nRedis state, {per_account} requests per account (figures: growth over an empty server)"
    )
    print(
        f"{'':<26}{'accounts':>10}{'used MB':>9}{'RSS MB':>8}{'dataset MB':>11}{'keys':>10}"
        f"{'B/account':>10}{'quota keys':>11}{'quota B':>9}{'s':>6}"
    )
    for name, n, fig, seconds in rows:
        print(
            f"{name:<26}{n:>10}{fig.used / 2**20:>9.1f}{fig.rss / 2**20:>8.1f}"
            f"{fig.dataset / 2**20:>11.1f}{fig.keys:>10}{fig.used / n:>10.0f}"
            f"{fig.quota_keys:>11}{fig.quota_bytes:>9}{seconds:>6.0f}"
        )
    print(
        "(used: used_memory; RSS: used_memory_rss; dataset: MEMORY STATS dataset.bytes; "
        "quota: the counters live at the end of the real run (each lives one window), "
        "left out of the other figures)"
    )
    names = sorted({name for _, fams in breakdown for name in fams})
    print("\nkeys and MEMORY USAGE bytes per account, by key family")
    print(f"{'family':<40}" + "".join(f"{label:>26}" for label, _ in breakdown))
    for name in names:
        cells = ""
        for label, fams in breakdown:
            n = int(label.split()[0])
            keys, size = fams.get(name, (0, 0))
            cells += f"{keys / n:>12.2f} keys {size / n:>7.0f} B"
        print(f"{name:<40}{cells}")


def _minus(after: RedisFigures, before: RedisFigures) -> RedisFigures:
    return RedisFigures(
        used=after.used - before.used,
        rss=after.rss - before.rss,
        dataset=after.dataset - before.dataset,
        keys=after.keys - before.keys,
        quota_keys=after.quota_keys,
        quota_bytes=after.quota_bytes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--requests-per-account", type=int, default=2)
    parser.add_argument(
        "--state",
        choices=("both", "memory", "redis"),
        default="both",
        help="memory: the memory store; redis: everything in Redis at --accounts from --real "
        "real ones; both: the memory store, and the engine alone against Redis",
    )
    parser.add_argument("--real", type=int, default=9_000, help="--state redis: accounts run")
    parser.add_argument(
        "--validate", action="store_true", help="--state redis: run --accounts real ones too"
    )
    parser.add_argument(
        "--rss", action="store_true", help="no tracemalloc (several times faster): RSS only"
    )
    args = parser.parse_args()
    if args.state == "redis":
        redis_state(args.accounts, args.real, args.requests_per_account, args.validate)
        return
    obs = observations(args.accounts, args.requests_per_account)
    n = args.accounts
    rows = []
    trace = not args.rss
    started = time.perf_counter()
    heap, rss, _ = asyncio.run(run(obs, None, trace))
    rows.append(("memory", heap, rss, 0.0, time.perf_counter() - started))
    if shutil.which("redis-server") is not None and args.state == "both":
        with running_redis() as server:
            started = time.perf_counter()
            heap, rss, redis_mb = asyncio.run(run(obs, server.url, trace))
            rows.append(("redis", heap, rss, redis_mb, time.perf_counter() - started))
    print(f"\n{n} accounts x {args.requests_per_account} requests")
    print(f"{'state':<8}{'heap MB':>9}{'RSS MB':>8}{'Redis MB':>10}{'bytes/account':>15}{'s':>6}")
    for name, heap, rss, redis_mb, seconds in rows:
        per = ((heap if trace else rss) + redis_mb) * 2**20 / n
        print(f"{name:<8}{heap:>9.1f}{rss:>8.1f}{redis_mb:>10.1f}{per:>15.0f}{seconds:>6.0f}")
    print(
        "(heap: Python allocations still held, tracemalloc (0 with --rss); Redis: used_memory "
        "growth; bytes/account: heap (RSS with --rss) + Redis, the activity log of this "
        "replica included)"
    )


if __name__ == "__main__":
    main()
