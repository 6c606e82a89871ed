"""The `Store` protocol: the state linking shares between requests and replicas, and its values.

Two implementations give the same answers on the same input: `MemoryStore` (one process) and
`RedisStore` (shared by replicas; Redis Cluster safe).

What is kept, and the bound on it:
- a posting per evidence value: the accounts that used it within `window`, newest first, at most
  `posting_cap` of them;
- a profile per account: the evidence values it used within `window`, at most
  `values_per_account` (the oldest is forgotten first, and the account leaves that posting), so an
  account is in at most `values_per_account` postings;
- the set of accounts active within `window`;
- links between accounts (at most `links_per_account` each, the oldest dropped first; a link not
  confirmed again within `link_ttl` expires), each with the evidence weights of its latest
  confirmation (four numbers, no raw value);
- which links changed lately (a bounded log), so that a re-clustering reads only those;
- the cluster of every account in a cluster of two or more, and each cluster's size, replaced
  as a whole by a re-clustering that changed any.

With the defaults an active account costs at most about 48 profile entries + 48 posting entries
+ 32 links, each some 60-90 bytes in Redis, and the 32 links' evidence weights (measured: 1.9 KB
for 32 in one Redis hash): under 14 KB per tracked account, and nothing once it has been idle
for `window` (links: `link_ttl`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from guardgate.records import record


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """Bounds on what the store keeps; both implementations apply them identically."""

    window: float = 3 * 86400.0
    """Seconds an account's use of an evidence value is remembered."""
    posting_cap: int = 512
    """Most accounts kept per evidence value (the newest); counts saturate here."""
    sample: int = 12
    """Most other accounts returned per evidence value on each request (the newest)."""
    values_per_account: int = 48
    """Most evidence values remembered per account."""
    link_ttl: float = 7 * 86400.0
    """Seconds a link between two accounts lasts unless confirmed again."""
    links_per_account: int = 32
    """Most links kept per account (the most recently confirmed)."""
    max_accounts: int = 1_000_000
    """Most accounts tracked at once (memory store): past it, a new account evicts the one idle
    the longest, as if its window had passed."""


@record
class Posting:
    """Who else used one evidence value recently."""

    value: str
    count: int
    """Accounts (this one included) that used the value within the window, capped."""
    members: tuple[str, ...]
    """The most recent other accounts that used it, newest first."""


@record
class Touch:
    """What the store answers when one request's evidence is recorded."""

    active: int
    """Accounts active within the window (this one included)."""
    cluster: str
    """The account's cluster id, or '' when it is in no cluster."""
    cluster_size: int
    postings: tuple[Posting, ...]
    member_clusters: Mapping[str, str]
    """Cluster ids of the accounts in `postings` that are in a cluster."""


@record(order=True)
class Link:
    """Two accounts found alike enough to belong to one actor, at time `ts`."""

    a: str
    b: str
    ts: float
    weights: tuple[float, ...] = ()
    """The evidence behind the link when it was last confirmed: the weight of each kind of
    evidence (`linking.evidence.Kind` order: network, software, app, content), never a raw
    value. Empty when the writer gave none."""


@record
class LinkChanges:
    """The links changed since a cursor (or all live links), for incremental re-clustering."""

    cursor: int
    """Pass it to the next `link_changes` call to get only what changed after this one."""
    pairs: Mapping[tuple[str, str], float]
    """Canonical pair -> the newest confirmation of that link (before `since`: it is gone)."""
    complete: bool
    """True when `pairs` holds every live link, so that a link missing from it is gone."""


@runtime_checkable
class Store(Protocol):
    """The state behind linking. Every method is safe to call from several replicas at once."""

    limits: StoreLimits

    async def start(self) -> None:
        """Open connections (and load scripts)."""

    async def close(self) -> None:
        """Close connections."""

    async def touch(self, account: str, ts: float, values: Sequence[str]) -> Touch:
        """Record that `account` used `values` at `ts`, in one atomic step (one round trip), and
        answer who else used them and which clusters they are in."""
        ...

    async def forget(self, account: str) -> bool:
        """Drop everything recorded for `account` (profile, postings, links, activity), as if it
        had never been seen: an upstream refused its key. True when there was something."""
        ...

    async def add_links(self, links: Sequence[Link]) -> None:
        """Record or refresh links (both directions)."""

    async def links(self, since: float) -> list[Link]:
        """Every link confirmed at or after `since`, once each, with `a < b`."""
        ...

    async def link_changes(self, since: float, cursor: int) -> LinkChanges:
        """The links that changed since `cursor` (from an earlier answer), or, when the store
        cannot tell (first call, another store's cursor, too long ago), every link confirmed at
        or after `since` with `complete` set."""
        ...

    async def clusters(self) -> dict[str, str]:
        """The current cluster id of every account in a cluster."""
        ...

    async def replace_clusters(self, assignment: Mapping[str, str]) -> None:
        """Replace all cluster assignments at once (account -> cluster id)."""

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lock `name` for `ttl` seconds unless someone else holds it."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give the lock back if `owner` still holds it."""


def cluster_sizes(assignment: Mapping[str, str]) -> dict[str, int]:
    """Members per cluster id."""
    sizes: dict[str, int] = {}
    for cid in assignment.values():
        sizes[cid] = sizes.get(cid, 0) + 1
    return sizes


def link_key(a: str, b: str) -> tuple[str, str]:
    """The two ends of a link in canonical order."""
    return (a, b) if a < b else (b, a)


def as_links(pairs: Mapping[tuple[str, str], float]) -> list[Link]:
    """Links from a mapping of canonical pairs to times, sorted for reproducible output."""
    return sorted(Link(a, b, ts) for (a, b), ts in pairs.items())


def newest_links(directions: Iterable[tuple[str, str, float, tuple[float, ...]]]) -> list[Link]:
    """Links from their directions `(x, y, ts, weights)` (each link is kept on both accounts):
    the newest direction of each pair gives its time and weights; on a tie, the direction kept
    on the pair's first account. Sorted, so that every store answers alike."""
    best: dict[tuple[str, str], tuple[float, bool, tuple[float, ...]]] = {}
    for x, y, ts, weights in directions:
        key = link_key(x, y)
        rank = (ts, x == key[0], weights)
        found = best.get(key)
        if found is None or rank[:2] > found[:2]:
            best[key] = rank
    return sorted(Link(a, b, ts, weights) for (a, b), (ts, _, weights) in best.items())


def encode_weights(weights: tuple[float, ...]) -> str:
    """Evidence weights as stored in Redis ('' for none)."""
    return ",".join(repr(float(w)) for w in weights)


def decode_weights(text: str) -> tuple[float, ...]:
    """The inverse of `encode_weights`."""
    return tuple(float(w) for w in text.split(",")) if text else ()
