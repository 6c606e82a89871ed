"""Rate-limit headers as each provider's clients read them, and the waits they announce."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from guardgate.model import ApiKind
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


def _openai_duration(seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1s`, `6m0s`, `1h2m3s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(math.ceil(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_headers(
    api: ApiKind,
    requests: WindowState | None,
    tokens: WindowState | None,
    now: float,
) -> tuple[tuple[str, str], ...]:
    """`x-ratelimit-*` (OpenAI paths) or `anthropic-ratelimit-*` (Anthropic) for a 429."""
    headers: list[tuple[str, str]] = []
    for name, state in (("requests", requests), ("tokens", tokens)):
        if state is None:
            continue
        if api.is_anthropic:
            headers += [
                (f"anthropic-ratelimit-{name}-limit", str(state.limit)),
                (f"anthropic-ratelimit-{name}-remaining", str(state.remaining)),
                (f"anthropic-ratelimit-{name}-reset", _rfc3339(now + state.reset_in)),
            ]
        else:
            headers += [
                (f"x-ratelimit-limit-{name}", str(state.limit)),
                (f"x-ratelimit-remaining-{name}", str(state.remaining)),
                (f"x-ratelimit-reset-{name}", _openai_duration(state.reset_in)),
            ]
    return tuple(headers)
