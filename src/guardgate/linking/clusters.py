"""Re-clustering: links to clusters, with cluster ids that stay put.

Clusters are the connected components of the live links that are structurally supported (SCAN's
structural similarity): a link counts only when the two accounts also share a good part of their
other links. One actor's accounts are densely linked among themselves; a stray link between two
dense groups (two apps' users who happen to look alike once) is a bridge with no shared
neighbours, and it no longer merges the groups. An id survives as long as the component that
holds most of its former members exists; a new component gets an id derived from its members.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from guardgate.signals.hashing import short_hash
from guardgate.store import Link


def supported(links: Iterable[Link], min_similarity: float) -> list[Link]:
    """The links whose ends share enough neighbours: |N[a] & N[b]| / sqrt(|N[a]| |N[b]|) at
    least `min_similarity`, where N[x] is x and the accounts linked to it."""
    links = list(links)
    if min_similarity <= 0:
        return links
    near: dict[str, set[str]] = {}
    for link in links:
        near.setdefault(link.a, {link.a}).add(link.b)
        near.setdefault(link.b, {link.b}).add(link.a)
    kept = []
    for link in links:
        na, nb = near[link.a], near[link.b]
        if len(na & nb) >= min_similarity * math.sqrt(len(na) * len(nb)):
            kept.append(link)
    return kept


def components(links: Iterable[Link], min_similarity: float = 0.0) -> list[list[str]]:
    """Connected components over the supported links (two or more accounts each), members
    sorted, largest first."""
    links = supported(links, min_similarity)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression keeps later finds O(1)
            parent[x], x = root, parent[x]
        return root

    for link in links:
        for x in (link.a, link.b):
            parent.setdefault(x, x)
        ra, rb = find(link.a), find(link.b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    out = [sorted(members) for members in groups.values() if len(members) > 1]
    out.sort(key=lambda m: (-len(m), m[0]))
    return out


def assign(
    groups: list[list[str]], previous: Mapping[str, str], reserved: Iterable[str] = ()
) -> dict[str, str]:
    """Account -> cluster id; each former id goes to the component holding most of its former
    members (ties: the larger component), each component takes at most one former id. New ids
    avoid `reserved` (the ids of clusters left as they were, when only some are reassigned)."""
    claims = []
    for index, members in enumerate(groups):
        held = Counter(previous[m] for m in members if m in previous)
        for cid, count in held.items():
            claims.append((-count, -len(members), cid, index))
    claims.sort()
    ids: dict[int, str] = {}
    taken: set[str] = set(reserved)
    for _, _, cid, index in claims:
        if index not in ids and cid not in taken:
            ids[index] = cid
            taken.add(cid)
    assignment: dict[str, str] = {}
    for index, members in enumerate(groups):
        found = ids.get(index)
        if found is not None:
            cid = found
        else:
            cid = "c-" + short_hash(members[0])[:12]
            salt = 0
            while cid in taken:
                salt += 1
                cid = "c-" + short_hash(f"{members[0]}#{salt}")[:12]
            taken.add(cid)
        for member in members:
            assignment[member] = cid
    return assignment
