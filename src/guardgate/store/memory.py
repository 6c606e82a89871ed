"""`MemoryStore`: the store of one process, the embedded default. It mirrors `RedisStore`
operation for operation (same orderings, same tie-breaks, same float arithmetic), so both give the
same answers on the same input."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from guardgate.store._base import (
    Link,
    LinkChanges,
    Posting,
    StoreLimits,
    Touch,
    cluster_sizes,
    link_key,
    newest_links,
)

BUMP = 1e-6
"""Added to a posting's newest score when a request is not newer than it, so that postings are
strictly ordered by arrival and no two members ever tie (Redis would break ties by name)."""
_SWEEP_EVERY = 8
_SWEEP_BATCH = 64
"""Every `_SWEEP_EVERY` touches, `_SWEEP_BATCH` keys are checked for expiry: 512 keys every 64
touches made the request that set a sweep off take 0.4 ms more (1.6% of requests: the mounted
middleware's p99 at 100k accounts); the same rate in eight times smaller steps."""
_MAX_LOG = 100_000
_NEVER = float("-inf")


class _Recency:
    """Members ordered by a strictly increasing score; the oldest first. Only the set of active
    accounts uses it (one object: its front is popped on every request, which an OrderedDict
    does in constant time where a plain dict would rescan its deleted slots)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: OrderedDict[str, float] = OrderedDict()

    def stamp(self, member: str, ts: float, cutoff: float) -> None:
        entries = self.entries
        while entries and next(iter(entries.values())) < cutoff:
            entries.popitem(last=False)
        score = ts
        if entries:
            newest = next(reversed(entries.values()))
            if newest >= ts:
                score = newest + BUMP
        entries[member] = score
        entries.move_to_end(member)


class MemoryStore:
    """In-process state; not shared between replicas or kept across restarts."""

    def __init__(self, limits: StoreLimits | None = None) -> None:
        self.limits = limits if limits is not None else StoreLimits()
        self._active = _Recency()
        # Each posting is a plain dict of str -> float, oldest first: CPython's collector does
        # not track such a dict, so a million postings cost a full collection nothing (an
        # OrderedDict, or any object holding one, is tracked: 1.1 million of them at 100k
        # accounts made a full collection take seconds).
        self._postings: dict[str, dict[str, float]] = {}
        self._profiles: dict[str, dict[str, float]] = {}
        self._profile_ts: dict[str, float] = {}
        self._links: dict[str, dict[str, float]] = {}
        # The evidence weights of each link direction kept in `_links` (only those given some).
        self._weights: dict[str, dict[str, tuple[float, ...]]] = {}
        self._clusters: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._touches = 0
        self._sweep_queue: list[str] = []
        self._sweep_family = 2
        self._last_ts = 0.0
        self.evicted: list[str] = []
        """Accounts evicted to stay under `max_accounts`, for the engine to forget elsewhere too
        (it empties the list)."""
        # Pairs whose link changed, in order; a cursor is an absolute position in this log.
        self._log: list[tuple[str, str]] = []
        self._log_start = 0

    @property
    def accounts(self) -> int:
        """Accounts tracked now (with a profile)."""
        return len(self._profiles)

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def touch(self, account: str, ts: float, values: Sequence[str]) -> Touch:
        """Record `values` for `account` at `ts` and answer who else used them."""
        limits = self.limits
        cutoff = ts - limits.window
        self._touches += 1
        self._last_ts = max(self._last_ts, ts)
        if account not in self._profiles and len(self._profiles) >= limits.max_accounts:
            self._evict()
        if self._touches % _SWEEP_EVERY == 0:
            self._sweep(self._last_ts)
        self._active.stamp(account, ts, cutoff)
        active = len(self._active.entries)

        values = list(dict.fromkeys(values))
        profile = self._profiles.setdefault(account, {})
        in_order = ts >= self._profile_ts.get(account, float("-inf"))
        if in_order:
            # Keep the dict in (ts, value) order, Redis's order, so the oldest are at the front.
            self._profile_ts[account] = ts
            ordered = sorted(values)
            for value in ordered:
                profile.pop(value, None)
            profile.update(dict.fromkeys(ordered, ts))  # at the end, in order
        else:
            for value in values:
                profile[value] = ts
        excess = len(profile) - limits.values_per_account
        oldest = next(iter(profile.values()), ts)
        if in_order:
            if oldest < cutoff or excess > 0:
                self._trim_front(account, cutoff)
        else:
            ranked = sorted(profile.items(), key=lambda kv: (kv[1], kv[0]))
            stale = [v for v, t in ranked if t < cutoff]
            for value in stale:
                del profile[value]
            excess = len(profile) - limits.values_per_account
            evicted = [v for v, t in ranked if t >= cutoff][: max(0, excess)]
            for value in evicted:
                del profile[value]
                posting = self._postings.get(value)
                if posting is not None:
                    posting.pop(account, None)
                    if not posting:
                        del self._postings[value]
            self._profiles[account] = dict(sorted(profile.items(), key=lambda kv: (kv[1], kv[0])))

        postings = []
        everyone: list[str] = []
        cap = limits.posting_cap
        # After the stamp the account is the newest entry and the cap (>= 1) never trims it,
        # so the others are the entries after the first in newest-first order.
        skip = 1 if cap >= 1 else 0
        last = limits.sample + skip
        known = self._postings
        for value in values:
            entries = known.get(value)
            if entries is None:
                if skip:  # a value no one used in the window: the account alone
                    known[value] = {account: ts}
                    postings.append(Posting(value, 1, ()))
                    continue
                entries = known[value] = {}
            if skip and len(entries) == 1 and account in entries:
                # A value only this account used (its own address, a prompt of its own: most of
                # a request's values): it stays the one member, at its new time.
                newest = entries[account]
                entries[account] = newest + BUMP if newest >= ts else ts
                postings.append(Posting(value, 1, ()))
                continue
            # `_Recency.stamp` on a plain dict, inlined: this loop runs for every value of every
            # request. A posting holds at most `posting_cap` members, so finding its first live
            # entry after deletions at the front stays a bounded scan.
            first = next(iter(entries.values()), None)
            if first is not None and first < cutoff:
                while entries and next(iter(entries.values())) < cutoff:
                    del entries[next(iter(entries))]
            if entries:
                member, newest = next(reversed(entries.items()))
                score = newest + BUMP if newest >= ts else ts
                if member == account and skip:
                    entries[account] = score  # already the newest: it stays last
                else:
                    entries.pop(account, None)
                    entries[account] = score
                    while len(entries) > cap:
                        del entries[next(iter(entries))]
            else:
                entries[account] = ts
                while len(entries) > cap:
                    del entries[next(iter(entries))]
            if skip:
                others = tuple(itertools.islice(reversed(entries), skip, last))
            else:
                others = tuple(
                    itertools.islice((m for m in reversed(entries) if m != account), limits.sample)
                )
            everyone.extend(others)
            postings.append(Posting(value, len(entries), others))

        cluster = self._clusters.get(account, "")
        clusters = self._clusters
        # Most sampled members are in no cluster: the intersection (in C) is usually empty.
        member_clusters = (
            {m: clusters[m] for m in dict.fromkeys(everyone) if m in clusters}
            if clusters and not clusters.keys().isdisjoint(everyone)
            else {}
        )
        return Touch(
            active=active,
            cluster=cluster,
            cluster_size=self._sizes.get(cluster, 0) if cluster else 1,
            postings=tuple(postings),
            member_clusters=member_clusters,
        )

    def _trim_front(self, account: str, cutoff: float) -> None:
        """Forget an in-order profile's stale and excess values. Its times never decrease from
        front to back, so these are at the front and no sort of the whole profile is needed;
        only values sharing the time at the cut are ranked by name, as Redis ranks them."""
        profile = self._profiles[account]
        stale = 0
        for t in profile.values():
            if t >= cutoff:
                break
            stale += 1
        excess = len(profile) - stale - self.limits.values_per_account
        window: list[tuple[str, float]] = []
        if excess > 0:
            for value, t in itertools.islice(profile.items(), stale, None):
                if len(window) >= excess and t != window[-1][1]:
                    break
                window.append((value, t))
            if len(window) > excess:
                window.sort(key=lambda kv: (kv[1], kv[0]))
        for value in list(itertools.islice(profile, stale)):
            del profile[value]
        postings = self._postings
        for value, _ in window[:excess]:
            del profile[value]
            posting = postings.get(value)
            if posting is not None:
                posting.pop(account, None)
                if not posting:
                    del postings[value]

    def _evict(self) -> None:
        """Forget the accounts idle the longest until one more fits under `max_accounts`."""
        active = self._active.entries
        while active and len(self._profiles) >= self.limits.max_accounts:
            oldest = next(iter(active))
            self._forget(oldest)
            self.evicted.append(oldest)
        if not active:  # profiles of accounts no longer active: the sweep has yet to see them
            while len(self._profiles) >= self.limits.max_accounts:
                oldest = next(iter(self._profiles))
                self._forget(oldest)
                self.evicted.append(oldest)

    async def forget(self, account: str) -> bool:
        """Drop the account's profile, its place in postings, and its links."""
        return self._forget(account)

    def _forget(self, account: str) -> bool:
        known = self._active.entries.pop(account, None) is not None
        profile = self._profiles.pop(account, None)
        self._profile_ts.pop(account, None)
        if profile is not None:
            known = True
            postings = self._postings
            for value in profile:
                posting = postings.get(value)
                if posting is not None:
                    posting.pop(account, None)
                    if not posting:
                        del postings[value]
        mine = self._links.pop(account, None)
        self._weights.pop(account, None)
        if mine:
            known = True
            for other in mine:
                theirs = self._links.get(other)
                if theirs is not None:
                    theirs.pop(account, None)
                    if not theirs:
                        del self._links[other]
                self._drop_weights(other, account)
            self._logged(link_key(account, other) for other in mine)
        return known

    def _sweep(self, now: float) -> None:
        """Forget a slice of what Redis would have expired (postings and profiles idle for a
        whole window, links unconfirmed for `link_ttl`). Each call looks at a bounded number of
        entries, so no request ever pays for a sweep of the whole state."""
        if not self._sweep_queue:
            # The keys of one family at a time, copied by C (no tuple per key): at 100k
            # accounts there are over a million postings, and a tuple each would be a burst of
            # allocations that sets off the cyclic collector in the middle of a request.
            self._sweep_family = (self._sweep_family + 1) % 3
            family = self._sweep_family
            self._sweep_queue = list(
                self._postings if family == 0 else self._profiles if family == 1 else self._links
            )
        cutoff = now - self.limits.window
        link_cutoff = now - self.limits.link_ttl
        batch = self._sweep_queue[-_SWEEP_BATCH:]
        del self._sweep_queue[-_SWEEP_BATCH:]
        family = self._sweep_family
        # One loop per family, each reading the newest time inline: this runs for 8 keys a
        # request on average, mostly cache misses, so the Python work around them counts.
        if family == 0:
            postings = self._postings
            for key in batch:
                posting = postings.get(key)
                # A posting is kept in time order: its last entry is its newest.
                if posting is not None and (
                    not posting or next(reversed(posting.values())) < cutoff
                ):
                    del postings[key]
        elif family == 1:
            profiles = self._profiles
            for key in batch:
                profile = profiles.get(key)
                if profile is not None and next(reversed(profile.values()), 0) < cutoff:
                    del profiles[key]
                    self._profile_ts.pop(key, None)
        else:
            for key in batch:
                mine = self._links.get(key)
                if mine is not None and max(mine.values(), default=0) < link_cutoff:
                    del self._links[key]
                    self._weights.pop(key, None)
                    self._logged(link_key(key, other) for other in mine)

    async def add_links(self, links: Sequence[Link]) -> None:
        """Record or refresh links, keeping the newest `links_per_account` of each account."""
        cap = self.limits.links_per_account
        log = self._log
        for link in links:
            log.append(link_key(link.a, link.b))
            for x, y in ((link.a, link.b), (link.b, link.a)):
                mine = self._links.setdefault(x, {})
                if mine.get(y, float("-inf")) < link.ts:
                    mine[y] = link.ts
                    if link.weights:
                        self._weights.setdefault(x, {})[y] = link.weights
                    else:
                        self._drop_weights(x, y)
                if len(mine) > cap:
                    ranked = sorted(mine.items(), key=lambda kv: (kv[1], kv[0]))
                    for other, _ in ranked[: len(mine) - cap]:
                        del mine[other]
                        self._drop_weights(x, other)
                        log.append(link_key(x, other))
        self._logged(())

    def _drop_weights(self, x: str, y: str) -> None:
        weights = self._weights.get(x)
        if weights is not None:
            weights.pop(y, None)
            if not weights:
                del self._weights[x]

    def _logged(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._log.extend(pairs)
        if len(self._log) > _MAX_LOG:
            # Bounded: a reader this far behind gets every live link instead of the changes.
            half = len(self._log) // 2
            del self._log[:half]
            self._log_start += half

    async def link_changes(self, since: float, cursor: int) -> LinkChanges:
        """The links changed since `cursor`, each with its newest time in either direction
        (`-inf` once forgotten on both sides); every live link when `cursor` is not in the log."""
        end = self._log_start + len(self._log)
        if not self._log_start <= cursor <= end:
            return LinkChanges(cursor=end, pairs=self._link_pairs(since), complete=True)
        links = self._links
        changes: dict[tuple[str, str], float] = {}
        for a, b in dict.fromkeys(self._log[cursor - self._log_start :]):
            ab = links.get(a)
            ba = links.get(b)
            t1 = ab.get(b, _NEVER) if ab is not None else _NEVER
            t2 = ba.get(a, _NEVER) if ba is not None else _NEVER
            changes[(a, b)] = t1 if t1 > t2 else t2
        return LinkChanges(cursor=end, pairs=changes, complete=False)

    async def links(self, since: float) -> list[Link]:
        """Every link confirmed at or after `since`, with its evidence weights."""
        weights = self._weights
        return newest_links(
            (x, y, ts, weights[x].get(y, ()) if x in weights else ())
            for x, mine in self._links.items()
            for y, ts in mine.items()
            if ts >= since
        )

    def _link_pairs(self, since: float) -> dict[tuple[str, str], float]:
        pairs: dict[tuple[str, str], float] = {}
        for x, mine in self._links.items():
            for y, ts in mine.items():
                if ts >= since:
                    key = link_key(x, y)
                    if pairs.get(key, float("-inf")) < ts:
                        pairs[key] = ts
        return pairs

    async def clusters(self) -> dict[str, str]:
        """Account -> cluster id for every clustered account."""
        return dict(self._clusters)

    async def replace_clusters(self, assignment: Mapping[str, str]) -> None:
        """Replace all cluster assignments."""
        self._clusters = dict(assignment)
        self._sizes = cluster_sizes(self._clusters)

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """A lock within one process (the clock is the store's latest request time)."""
        held = self._locks.get(name)
        now = self._last_ts
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._locks[name] = (owner, now + ttl)
        return True

    async def release(self, name: str, owner: str) -> None:
        """Release the lock if `owner` holds it."""
        held = self._locks.get(name)
        if held is not None and held[0] == owner:
            del self._locks[name]
