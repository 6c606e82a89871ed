"""Which limits apply to one request: per account and per cluster, scaled by tier and size.

`limits` makes the amount of a limit part of its storage key, so a quota that changed its amount
on every request would start a fresh counter each time. Amounts therefore only take a few fixed
values: one per tier (normal, suspect, extractor) and one per cluster-size step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, RateLimitItemPerMinute

from guardgate.model import Tier, Verdict
from guardgate.settings import GuardgateSettings

WINDOW_SECONDS = 60
CLUSTER_SCALE_CAP = 16
"""The most a cluster's quota grows with its member count (reached at 256 accounts)."""


class Dimension(StrEnum):
    """What a limit counts."""

    REQUESTS = "requests"
    TOKENS = "tokens"


@dataclass(frozen=True, slots=True)
class Limit:
    """One counter a request is checked against."""

    dimension: Dimension
    scope: str
    """`account` or `cluster`."""
    subject: str
    """The account or cluster id the counter belongs to."""
    item: RateLimitItem
    tiered: bool = False
    """Whether this is a stricter tier's counter (kept beside the normal-tier counter)."""

    @property
    def amount(self) -> int:
        """The limit per minute."""
        return int(self.item.amount)

    @property
    def identifiers(self) -> tuple[str, str]:
        """The identifiers of this counter's storage key (the amount is added by `limits`)."""
        return (self.scope[0], self.subject)


@dataclass(frozen=True, slots=True)
class QuotaPlan:
    """The limits one request is checked against, and its concurrent-stream cap."""

    limits: tuple[Limit, ...]
    concurrency: int
    """Concurrent streams allowed for the account (0: unlimited)."""
    advertised_requests: int
    """The request limit shown to clients: the normal tier's, so headers never reveal a tier."""
    advertised_tokens: int

    @property
    def empty(self) -> bool:
        """Whether nothing is limited for this request."""
        return not self.limits and not self.concurrency


def cluster_scale(size: int) -> int:
    """How many times the base cluster quota a cluster of `size` accounts gets.

    Grows as the square root of the member count, rounded down to a power of two (so that only
    five amounts exist: 1, 2, 4, 8, 16) and capped at 16: an organisation of 200 people behind
    one NAT gets 8x the base, while a farm of 20,000 linked accounts gets no more than 16x, that
    is, under a thousandth of a normal account's quota per account.
    """
    if size < 4:
        return 1
    steps = int(math.log(size, 4) + 1e-9)
    return min(CLUSTER_SCALE_CAP, 1 << steps)


class QuotaPlanner:
    """Builds the `QuotaPlan` of each verdict from the settings."""

    def __init__(self, settings: GuardgateSettings) -> None:
        self.settings = settings
        self._factors = {
            Tier.SUSPECT: settings.quota_factor_suspect,
            Tier.EXTRACTOR: settings.quota_factor_extractor,
        }

    def factor(self, tier: Tier) -> float:
        """The share of the normal quota a tier gets (trusted accounts get the normal quota)."""
        return self._factors.get(tier, 1.0)

    def plan(self, verdict: Verdict, multipliers: tuple[float, float] = (1.0, 1.0)) -> QuotaPlan:
        """The limits for a request whose sender got `verdict`; `multipliers` are the
        operator's per-customer multipliers of the account's own quotas and of its cluster's
        (overrides with a `quota`).

        A multiplier changes a customer's amounts, and so (as `limits` keys a counter by its
        amount) starts that customer's counters afresh once when it is set or changed; it does
        not vary from request to request.
        """
        s = self.settings
        factor = self.factor(verdict.tier)
        mine, theirs = multipliers
        limits: list[Limit] = []
        account_rpm = _scaled(s.account_rpm, mine)
        account_tpm = _scaled(s.account_tpm, mine)
        if verdict.account:
            limits += _tiered(Dimension.REQUESTS, "account", verdict.account, account_rpm, factor)
            limits += _tiered(Dimension.TOKENS, "account", verdict.account, account_tpm, factor)
        if verdict.cluster:
            scale = cluster_scale(verdict.cluster_size)
            for dimension, base in (
                (Dimension.REQUESTS, s.cluster_rpm),
                (Dimension.TOKENS, s.cluster_tpm),
            ):
                amount = _scaled(base * scale, theirs)
                limits += _tiered(dimension, "cluster", verdict.cluster, amount, factor)
        concurrency = 0
        if s.account_concurrency and verdict.account:
            concurrency = max(1, math.floor(_scaled(s.account_concurrency, mine) * factor))
        return QuotaPlan(
            limits=tuple(limits),
            concurrency=concurrency,
            # A customer's own multiplier is theirs to know; a tier's share is never shown.
            advertised_requests=account_rpm or s.cluster_rpm,
            advertised_tokens=account_tpm or s.cluster_tpm,
        )


def _scaled(base: int, multiplier: float) -> int:
    """`base` times an operator's multiplier, at least 1 (0, unlimited, stays 0)."""
    if not base or multiplier == 1.0:
        return base
    return max(1, math.floor(base * multiplier))


def _tiered(
    dimension: Dimension, scope: str, subject: str, base: int, factor: float
) -> list[Limit]:
    """The normal-tier counter, and for a stricter tier its own smaller counter beside it.

    Every request counts against the normal counter whatever the tier, so an account that moves
    to a stricter tier mid-minute cannot use the fresh tier counter to exceed the normal quota,
    and one that moves back finds its history intact.
    """
    if not base:
        return []
    limits = [Limit(dimension, scope, subject, _item(dimension, base))]
    amount = max(1, math.floor(base * factor))
    # A tier counter of the normal amount would share the normal counter's key (`limits` keys by
    # amount) and count every request twice: none is kept when the share rounds up to it.
    if amount < base:
        limits.append(Limit(dimension, scope, subject, _item(dimension, amount), tiered=True))
    return limits


def _item(dimension: Dimension, amount: int) -> RateLimitItem:
    return RateLimitItemPerMinute(
        amount, namespace="gg-" + ("rpm" if dimension is Dimension.REQUESTS else "tpm")
    )
