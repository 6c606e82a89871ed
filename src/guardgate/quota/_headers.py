"""Rate-limit headers as each provider's clients read them, and the waits they announce."""

from __future__ import annotations

import math

from guardgate.model import ApiKind
from guardgate.protocols.dialects import dialect_for
from guardgate.records import record


@record
class WindowState:
    """What a 429 tells about one dimension (requests or tokens)."""

    limit: int
    remaining: int
    reset_in: float
    """Seconds until the dimension's quota is available again."""


def sliding_wait(
    previous: int,
    previous_ttl: float,
    current: int,
    current_ttl: float,
    limit: int,
    cost: int,
    expiry: float,
) -> float:
    """Seconds until a sliding-window counter admits `cost` more (0 when it admits it now).

    The counter weighs the previous window by the share of it still inside the sliding window,
    so its count falls linearly as the previous window slides out, then as the current one does
    once it has become the previous one (`current_ttl - expiry` seconds from now).
    """
    if cost > limit:
        return expiry  # never admitted whole; say when the window has fully turned over
    if math.floor(previous * previous_ttl / expiry) + current + cost <= limit:
        return 0.0
    if current + cost <= limit:
        return max(0.0, previous_ttl - (limit - cost - current) * expiry / previous)
    shift = max(0.0, current_ttl - expiry)
    return shift + expiry * (1 - (limit - cost) / current)


def rate_limit_headers(
    api: ApiKind,
    requests: WindowState | None,
    tokens: WindowState | None,
    now: float,
) -> tuple[tuple[str, str], ...]:
    """The rate-limit headers of a 429 as the API's clients read them (`x-ratelimit-*` on
    OpenAI paths, `anthropic-ratelimit-*` on Anthropic's: see the API's dialect)."""
    dialect = dialect_for(api)
    headers: list[tuple[str, str]] = []
    for name, state in (("requests", requests), ("tokens", tokens)):
        if state is not None:
            headers += dialect.rate_limit_headers(
                name, state.limit, state.remaining, state.reset_in, now
            )
    return tuple(headers)
