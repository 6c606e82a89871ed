"""The reputation of evidence values: how much of the recent traffic carrying a value came from
accounts already flagged.

A farm's new account shares its farm's wording, software or exit network long before linking
has seen it often enough to put it in the farm's cluster (a link needs confirmations, and
re-clustering runs every minute). Its first request already carries those values; when most of
the traffic that carried them recently came from flagged accounts, the request is judged with
that prior instead of as a stranger's.

Only values seen on enough traffic count (`min_support` decayed requests), and a value is judged
by its share of flagged traffic, not by its rarity: a value thousands of honest users share (a
popular agent's system prompt, the current SDK build) keeps a low share however often a farm also
sends it. The prior needs two kinds of evidence (network, software, application, content) to
agree, as a link does, so that one coincidence (a shared exit address, a common question) is not
enough; or, as content alone links a farm, most of a prompt's template sketch (7 of 8 values)
agreeing with flagged traffic: a stealth farm's account with its own address, software and
parameters still writes in the farm's own words. It only raises a score (`ScoringModel` weight
`kin`), so nothing an attacker sends can lower one.

The table is this replica's (like the cached cluster scores), bounded (`max_values`, the least
recently seen half dropped when it is full; about 212 bytes a value measured with tracemalloc,
42 MB at the default cap; a simulated week of 77,000 requests left 58,749 values) and decayed with
the scoring half-life.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from guardgate.linking.evidence import KIND_OF_PREFIX, Kind

_NO_KIND = -1
_SKIP = frozenset({"ip", "par"})
"""Values left out: a single exit address is shared by chance (a carrier NAT, a proxy pool), and a
sampling-parameter signature is the SDK's default for most of its users."""
_KINDS = {prefix: int(kind) for prefix, kind in KIND_OF_PREFIX.items() if prefix not in _SKIP}
_BANDS = 3
"""Template-sketch bands that must agree for content to count (as linking's
`min_shared_bands`)."""


_ALONE_BANDS = 7
"""Template-sketch bands that, agreeing, count without a second kind (as linking's
`content_alone_bands`)."""


class EvidenceReputation:
    """Decayed flagged and total traffic per evidence value."""

    def __init__(
        self,
        *,
        half_life: float = 86400.0,
        min_support: float = 4.0,
        max_values: int = 200_000,
    ) -> None:
        self.half_life = half_life
        self.min_support = min_support
        """Decayed requests a value must have been seen on before its share counts."""
        self.max_values = max_values
        self._values: dict[str, list[float]] = {}
        """value -> [last ts, decayed requests, decayed requests from flagged accounts]."""
        self._rate = math.log(2) / half_life

    def __len__(self) -> int:
        return len(self._values)

    def share(self, values: Sequence[str], ts: float, own: float = 0.0) -> float:
        """The flagged share of other accounts' traffic for the second most flagged kind of
        evidence among `values` (0 when fewer than two kinds have a value with enough support).

        `own` is the sender's decayed request count: its own traffic is taken out of every
        value as if all of it had carried the value and been flagged, so that an account's own
        past (flagged or not) never counts as kin."""
        best = [0.0, 0.0, 0.0, 0.0]
        bands: list[float] = []
        table = self._values
        rate = self._rate
        for value in values:
            entry = table.get(value)
            if entry is None:
                continue
            keep = math.exp(-(ts - entry[0]) * rate) if ts > entry[0] else 1.0
            total = entry[1] * keep - own
            if total < self.min_support:
                continue
            prefix = value[: value.find(":")]
            kind = _KINDS.get(prefix, _NO_KIND)
            if kind == _NO_KIND:
                continue
            share = max(0.0, entry[2] * keep - own) / total
            if prefix == "b":
                bands.append(share)
            elif share > best[kind]:
                best[kind] = share
        alone = 0.0
        if len(bands) >= _BANDS:
            # One sketch band is shared by chance with many prompts: several must agree.
            bands.sort()
            best[Kind.CONTENT] = max(best[Kind.CONTENT], bands[-_BANDS])
            if len(bands) >= _ALONE_BANDS:
                # Most of the sketch agreeing is a farm's own wording, as content alone links it.
                alone = bands[-_ALONE_BANDS]
        best.sort()
        return max(best[-2], alone)

    def record(self, values: Sequence[str], ts: float, flagged: bool) -> None:
        """Count one request carrying `values`, from a flagged account or not."""
        table = self._values
        rate = self._rate
        hit = 1.0 if flagged else 0.0
        # A request's values were mostly last seen together (on the sender's previous request):
        # one decay factor serves every value last seen at the same time.
        last = ts
        keep = 1.0
        for value in values:
            entry = table.get(value)
            if entry is None:
                if len(table) >= self.max_values:
                    self._sweep()
                table[value] = [ts, 1.0, hit]
                continue
            seen = entry[0]
            if seen != last:
                last = seen
                keep = math.exp(-(ts - seen) * rate) if ts > seen else 1.0
            if ts > seen:
                entry[0] = ts
            entry[1] = entry[1] * keep + 1.0
            entry[2] = entry[2] * keep + hit

    def _sweep(self) -> None:
        # Drop the least recently seen half (insertion order is first-seen order; a value seen
        # since keeps its place, so sort by last time).
        table = self._values
        cutoff = sorted(entry[0] for entry in table.values())[len(table) // 2]
        for value in [v for v, e in table.items() if e[0] <= cutoff]:
            del table[value]
