"""Re-clustering: links to clusters, with cluster ids that stay put.

Clusters are the connected components of the live links (links are already strict: several
independent kinds of evidence, rarity-weighted). An id survives as long as the component that
holds most of its former members exists; a new component gets an id derived from its members.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from guardgate.signals.shape import short_hash
from guardgate.store import Link


def components(links: Iterable[Link]) -> list[list[str]]:
    """Connected components (two or more accounts each), members sorted, largest first."""
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


def assign(groups: list[list[str]], previous: Mapping[str, str]) -> dict[str, str]:
    """Account -> cluster id; each former id goes to the component holding most of its former
    members (ties: the larger component), each component takes at most one former id."""
    claims = []
    for index, members in enumerate(groups):
        held = Counter(previous[m] for m in members if m in previous)
        for cid, count in held.items():
            claims.append((-count, -len(members), cid, index))
    claims.sort()
    ids: dict[int, str] = {}
    taken: set[str] = set()
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
