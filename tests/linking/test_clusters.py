"""Re-clustering: components and cluster ids that stay put."""

from __future__ import annotations

from guardgate.linking import assign, components
from guardgate.store import Link


def _links(*pairs: str) -> list[Link]:
    return [Link(p[0], p[1], 0.0) for p in pairs]


def test_components_of_two_or_more() -> None:
    groups = components(_links("ab", "bc", "de", "ff"))
    assert groups == [["a", "b", "c"], ["d", "e"]]


def test_ids_survive_growth_merge_and_split() -> None:
    first = assign(components(_links("ab", "cd")), {})
    abc, cd = first["a"], first["c"]
    assert first == {"a": abc, "b": abc, "c": cd, "d": cd} and abc != cd
    # Growth keeps the id; a newcomer joins it.
    grown = assign(components(_links("ab", "bx", "cd")), first)
    assert grown["x"] == abc and grown["c"] == cd
    # Merge: the id holding most of the merged members survives, the other is retired.
    merged = assign(components(_links("ab", "bx", "xc", "cd")), grown)
    assert set(merged.values()) == {abc}
    # Split: the larger part keeps the id, the smaller part gets another one.
    split = assign(components(_links("ab", "bx", "cd")), merged)
    assert split["a"] == split["x"] == abc and split["c"] == split["d"] != abc


def test_new_ids_do_not_depend_on_link_order() -> None:
    one = assign(components(_links("ab", "bc")), {})
    two = assign(components(_links("cb", "ba")), {})
    assert one == two


def test_a_stray_link_between_two_dense_groups_does_not_merge_them() -> None:
    dense_a = [f"{x}{y}" for i, x in enumerate("abcde") for y in "abcde"[i + 1 :]]
    dense_b = [f"{x}{y}" for i, x in enumerate("vwxyz") for y in "vwxyz"[i + 1 :]]
    links = _links(*dense_a, *dense_b, "ev")
    assert len(components(links)) == 1  # plain connected components: one blob
    groups = components(links, min_similarity=0.4)
    assert groups == [list("abcde"), list("vwxyz")]
    # A pair linked only to each other is fully supported.
    assert components(_links("pq"), min_similarity=0.4) == [["p", "q"]]
