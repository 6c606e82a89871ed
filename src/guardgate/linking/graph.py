"""The live link graph, kept up to date from changes instead of rebuilt at every re-clustering.

`LinkGraph` holds the live links, which of them are structurally supported (see
`clusters.supported`) and the connected components over the supported ones. A change to a link
alters the neighbourhoods of its two ends only, so only links touching those ends can change
support, and only the components holding an end of a link whose support changed can change.
Those components are recomputed; every other component is left as it was. The result is the
same as `clusters.components` over all live links (a test checks it on random graphs).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping

Pair = tuple[str, str]


class LinkGraph:
    """Live links (canonical pair -> newest confirmation), their support and components."""

    def __init__(self, min_similarity: float) -> None:
        self.min_similarity = min_similarity
        self.ts: dict[Pair, float] = {}
        """Every live link and the time it was last confirmed."""
        self._near: dict[str, set[str]] = {}
        # Closed neighbourhoods (the account itself included), as `clusters.supported` uses.
        self._strong: dict[str, set[str]] = {}
        # Supported neighbours only (no self): the edges components are made of.
        self._expiry: list[tuple[float, str, str]] = []
        self.group_of: dict[str, tuple[str, ...]] = {}
        """Account -> the sorted members of its component (accounts in components of 2+)."""

    def update(
        self, changes: Mapping[Pair, float], since: float, *, complete: bool = False
    ) -> tuple[set[str], list[list[str]]]:
        """Apply link changes (pair -> newest time; a time before `since` means gone) and expire
        links older than `since`. With `complete`, `changes` is every live link and any link
        absent from it is gone.

        Returns the accounts whose component may have changed (each one's old component is
        replaced) and the new components (2+ members, sorted) that hold any of them, largest
        first, as `clusters.components` orders them.
        """
        dirty: set[str] = set()
        ts = self.ts
        if complete:
            for pair in [p for p in ts if p not in changes]:
                self._drop(pair, dirty)
        for pair, when in changes.items():
            if when < since:
                if pair in ts:
                    self._drop(pair, dirty)
            elif pair not in ts:
                self._add(pair, when, dirty)
            elif ts[pair] != when:
                ts[pair] = when
                heapq.heappush(self._expiry, (when, pair[0], pair[1]))
        expiry = self._expiry
        while expiry and expiry[0][0] < since:
            when, a, b = heapq.heappop(expiry)
            if ts.get((a, b)) == when:
                self._drop((a, b), dirty)
        if len(expiry) > 4 * len(ts) + 1024:
            # Refreshed links leave stale entries behind: rebuild the heap now and then.
            self._expiry = [(t, a, b) for (a, b), t in ts.items()]
            heapq.heapify(self._expiry)
        return self._recompute(dirty)

    def degrees(self) -> dict[str, int]:
        """Every clustered account's number of supported links (the edges of its component)."""
        return {account: len(others) for account, others in self._strong.items()}

    def groups(self) -> list[list[str]]:
        """Every component of two or more, members sorted, largest first."""
        seen: dict[tuple[str, ...], None] = dict.fromkeys(self.group_of.values())
        out = [list(members) for members in seen]
        out.sort(key=lambda m: (-len(m), m[0]))
        return out

    def _add(self, pair: Pair, when: float, dirty: set[str]) -> None:
        a, b = pair
        self.ts[pair] = when
        heapq.heappush(self._expiry, (when, a, b))
        near = self._near
        near.setdefault(a, {a}).add(b)
        near.setdefault(b, {b}).add(a)
        dirty.add(a)
        dirty.add(b)

    def _drop(self, pair: Pair, dirty: set[str]) -> None:
        a, b = pair
        del self.ts[pair]
        near = self._near
        for x, y in ((a, b), (b, a)):
            mine = near[x]
            mine.discard(y)
            if len(mine) == 1:
                del near[x]
            strong = self._strong.get(x)
            if strong is not None:
                strong.discard(y)
        dirty.add(a)
        dirty.add(b)

    def _supported(self, a: str, b: str) -> bool:
        if self.min_similarity <= 0:
            return True
        na, nb = self._near[a], self._near[b]
        # The same expression as `clusters.supported`, so that both agree to the last bit.
        return len(na & nb) >= self.min_similarity * math.sqrt(len(na) * len(nb))

    def _recompute(self, dirty: set[str]) -> tuple[set[str], list[list[str]]]:
        if not dirty:
            return set(), []
        near = self._near
        strong = self._strong
        # A changed neighbourhood changes the support of the links at that account only.
        affected = set(dirty)
        for x in dirty:
            for y in near.get(x, ()):
                if y == x:
                    continue
                now = self._supported(x, y)
                was = y in strong.get(x, ())
                if now != was:
                    affected.add(y)
                    if now:
                        strong.setdefault(x, set()).add(y)
                        strong.setdefault(y, set()).add(x)
                    else:
                        strong[x].discard(y)
                        strong[y].discard(x)
        for x in affected:
            if x in strong and not strong[x]:
                del strong[x]
        # Every former component holding an affected account is rebuilt whole.
        group_of = self.group_of
        region = set(affected)
        for x in affected:
            region.update(group_of.get(x, ()))
        for x in region:
            group_of.pop(x, None)
        found: list[list[str]] = []
        for start in _components_from(region, strong):
            if len(start) > 1:
                members = tuple(sorted(start))
                for x in members:
                    group_of[x] = members
                found.append(list(members))
        found.sort(key=lambda m: (-len(m), m[0]))
        region.update(x for members in found for x in members)
        return region, found


def _components_from(starts: Iterable[str], adjacency: Mapping[str, set[str]]) -> list[set[str]]:
    """The components (over `adjacency`) of the given accounts, each once."""
    seen: set[str] = set()
    out = []
    for start in starts:
        if start in seen:
            continue
        seen.add(start)
        members = {start}
        stack = [start]
        while stack:
            for y in adjacency.get(stack.pop(), ()):
                if y not in seen:
                    seen.add(y)
                    members.add(y)
                    stack.append(y)
        out.append(members)
    return out
