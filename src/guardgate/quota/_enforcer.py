"""`QuotaEnforcer`: checks a request against its quotas before it is forwarded, and charges the
tokens of its answer after.

One check issues every counter update at once (one round trip of latency; one Redis command per
counter); a request rejected by one counter may already have counted against the others, as
with any multi-limit check in `limits`. A storage fault follows `GUARDGATE_FAIL_MODE` and never
holds a request longer than `GUARDGATE_REDIS_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from guardgate.faults import FaultCounter
from guardgate.model import ApiKind, FailMode, Verdict
from guardgate.quota._backend import QuotaBackend, build_backend
from guardgate.quota._headers import WindowState, rate_limit_headers, sliding_wait
from guardgate.quota._plan import Dimension, Limit, QuotaPlan, QuotaPlanner
from guardgate.records import record
from guardgate.settings import GuardgateSettings

logger = logging.getLogger("guardgate")

_UNBOUNDED = 10**15
"""The limit passed when charging tokens after the fact: the charge must always be recorded."""
_CONCURRENCY_RETRY = 1.0


@record
class QuotaTicket:
    """What is left to do once the answer has ended: charge its tokens, release its lease."""

    plan: QuotaPlan
    account: str
    prompt_tokens: int
    """The prompt tokens already charged before forwarding."""
    lease: str | None = None


@record
class QuotaOutcome:
    """The result of one quota check."""

    status: int | None = None
    """429 (over quota) or 503 (storage down and fail mode closed); None admits the request."""
    message: str = ""
    retry_after: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    ticket: QuotaTicket | None = None
    failed_open: bool = False
    """Whether the storage failed and the request was admitted unchecked."""
    limit: str = ""
    """Which limit answered 429: `account|cluster` `_` `requests|tokens|concurrency` (the first
    one hit; for operators' metrics and audit lines only, never sent to the client)."""

    @property
    def allowed(self) -> bool:
        """Whether the request may be forwarded."""
        return self.status is None


_ALLOWED = QuotaOutcome()


class QuotaEnforcer:
    """Per-account and per-cluster quotas on requests, tokens and concurrent streams."""

    def __init__(
        self,
        settings: GuardgateSettings,
        backend: QuotaBackend | None = None,
        *,
        faults: FaultCounter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.planner = QuotaPlanner(settings)
        self.backend = backend if backend is not None else build_backend(settings)
        self.requests = MovingWindowRateLimiter(self.backend.storage)
        self.tokens = SlidingWindowCounterRateLimiter(self.backend.storage)
        self.faults = faults if faults is not None else FaultCounter()
        self.timeout = settings.redis_timeout if self.backend.shared else None
        self._pending: set[asyncio.Future[None]] = set()

    @property
    def enabled(self) -> bool:
        """Whether any quota is configured."""
        s = self.settings
        return any(
            (s.account_rpm, s.account_tpm, s.cluster_rpm, s.cluster_tpm, s.account_concurrency)
        )

    async def close(self) -> None:
        """Close the storage's connections."""
        if self.backend.client is not None:
            await self.backend.client.aclose()

    async def check(
        self,
        verdict: Verdict,
        api: ApiKind,
        prompt_tokens: int,
        *,
        hold_stream: bool = True,
        multipliers: tuple[float, float] = (1.0, 1.0),
    ) -> QuotaOutcome:
        """Count one request against its quotas; `hold_stream` takes a concurrent-stream lease
        (release it with `settle`); `multipliers` are the operator's for the account and its
        cluster (see `QuotaPlanner.plan`)."""
        plan = self.planner.plan(verdict, multipliers)
        if plan.empty:
            return _ALLOWED
        cost = max(1, prompt_tokens)
        lease = uuid.uuid4().hex if plan.concurrency and hold_stream else None
        try:
            async with asyncio.timeout(self.timeout):
                hits = [self._hit(limit, cost) for limit in plan.limits]
                if lease is not None:
                    hits.append(
                        self.backend.streams.acquire(verdict.account, plan.concurrency, lease)
                    )
                results = await asyncio.gather(*hits)
        except Exception:
            return self._fault(QuotaTicket(plan, verdict.account, cost, lease))
        if all(results):
            return QuotaOutcome(ticket=QuotaTicket(plan, verdict.account, cost, lease))
        failed = [limit for limit, ok in zip(plan.limits, results, strict=False) if not ok]
        streams_full = lease is not None and not results[-1]
        fired = limit_name(failed[0]) if failed else "account_concurrency"
        try:
            async with asyncio.timeout(self.timeout):
                if lease is not None and not streams_full:
                    await self.backend.streams.release(verdict.account, lease)
                outcome = await self._rejection(api, plan, failed, cost)
                return replace(outcome, limit=fired)
        except Exception:
            self.faults.record("quota", logger)
            # The request is over quota either way; only the details are missing.
            return QuotaOutcome(
                429, _message(failed, cost), retry_after=_CONCURRENCY_RETRY, limit=fired
            )

    async def settle(
        self, ticket: QuotaTicket, completion_tokens: int, prompt_tokens: int | None = None
    ) -> None:
        """Charge the answer's tokens and release the stream lease; never raises.

        `prompt_tokens` is the upstream's own prompt count when it reported one: any excess over
        the estimate charged before forwarding is charged now.
        """
        tokens = max(0, completion_tokens)
        if prompt_tokens is not None:
            tokens += max(0, prompt_tokens - ticket.prompt_tokens)
        work: list[Coroutine[Any, Any, object]] = []
        if tokens:
            storage = self.backend.storage
            for limit in ticket.plan.limits:
                if limit.dimension is Dimension.TOKENS:
                    work.append(
                        storage.acquire_sliding_window_entry(
                            limit.item.key_for(*limit.identifiers),
                            _UNBOUNDED,
                            limit.item.get_expiry(),
                            tokens,
                        )
                    )
        if ticket.lease is not None:
            work.append(self.backend.streams.release(ticket.account, ticket.lease))
        if not work:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.gather(*work)
        except Exception:
            self.faults.record("quota", logger)

    async def _hit(self, limit: Limit, cost: int) -> bool:
        if limit.dimension is Dimension.REQUESTS:
            return await self.requests.hit(limit.item, *limit.identifiers)
        return await self.tokens.hit(limit.item, *limit.identifiers, cost=cost)

    def _fault(self, ticket: QuotaTicket) -> QuotaOutcome:
        """The storage failed mid-check; a stream lease may or may not have been taken."""
        self.faults.record("quota", logger)
        if self.settings.fail_mode is FailMode.CLOSED:
            if ticket.lease is not None:
                # Give the lease back in the background: the 503 must not wait for Redis again.
                task = asyncio.ensure_future(
                    self._quietly(self.backend.streams.release(ticket.account, ticket.lease))
                )
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            return QuotaOutcome(
                503, "The service is temporarily unavailable; retry shortly.", retry_after=1.0
            )
        # Served unchecked; settling still releases a lease that was taken before the fault.
        return QuotaOutcome(failed_open=True, ticket=ticket if ticket.lease else None)

    async def _quietly(self, work: Coroutine[Any, Any, object]) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await work
        except Exception:
            self.faults.record("quota", logger)

    async def _rejection(
        self, api: ApiKind, plan: QuotaPlan, failed: list[Limit], cost: int
    ) -> QuotaOutcome:
        """The 429 for a request over quota, with the waits and headers its client reads."""
        waits = await asyncio.gather(*(self._wait(limit, cost) for limit in failed))
        now = self.clock()
        states: dict[Dimension, WindowState] = {}
        for dimension, advertised in (
            (Dimension.REQUESTS, plan.advertised_requests),
            (Dimension.TOKENS, plan.advertised_tokens),
        ):
            dimension_waits = [
                w for limit, w in zip(failed, waits, strict=True) if limit.dimension is dimension
            ]
            if dimension_waits:
                states[dimension] = WindowState(advertised, 0, max(dimension_waits))
        retry_after = max(waits, default=_CONCURRENCY_RETRY)
        headers = rate_limit_headers(
            api, states.get(Dimension.REQUESTS), states.get(Dimension.TOKENS), now
        )
        return QuotaOutcome(
            429, _message(failed, cost), retry_after=max(1.0, retry_after), headers=headers
        )

    async def _wait(self, limit: Limit, cost: int) -> float:
        """Seconds until `limit` admits this request again."""
        item = limit.item
        if limit.dimension is Dimension.REQUESTS:
            stats = await self.requests.get_window_stats(item, *limit.identifiers)
            return max(0.0, stats.reset_time - self.clock())
        (
            previous,
            previous_ttl,
            current,
            current_ttl,
        ) = await self.backend.storage.get_sliding_window(
            item.key_for(*limit.identifiers), item.get_expiry()
        )
        return sliding_wait(
            previous,
            previous_ttl,
            current,
            current_ttl,
            limit=item.amount,
            cost=cost,
            expiry=float(item.get_expiry()),
        )


def limit_name(limit: Limit) -> str:
    """The operator's name of a limit: `account_requests`, `cluster_tokens`, ..."""
    return f"{limit.scope}_{limit.dimension.value}"


def _message(failed: list[Limit], cost: int) -> str:
    """The 429 message; it names the kind of limit, never the tier, cluster or amounts."""
    dimensions = {limit.dimension for limit in failed}
    if Dimension.REQUESTS in dimensions:
        return "Rate limit reached for requests per minute. Please try again later."
    if any(cost > limit.amount for limit in failed):
        return "Request too large: its prompt exceeds the tokens-per-minute limit."
    if dimensions:
        return "Rate limit reached for tokens per minute. Please try again later."
    return "Too many concurrent requests for this API key. Please try again shortly."
