"""How quotas scale with tier and cluster size, and how long a client is told to wait."""

from __future__ import annotations

import pytest

from guardgate.model import ApiKind, Tier, Verdict
from guardgate.quota import (
    Dimension,
    QuotaPlanner,
    WindowState,
    cluster_scale,
    rate_limit_headers,
    sliding_wait,
)
from guardgate.settings import load_settings


@pytest.mark.parametrize(
    ("size", "scale"),
    [(1, 1), (3, 1), (4, 2), (15, 2), (16, 4), (64, 8), (200, 8), (256, 16), (24_000, 16)],
)
def test_cluster_scale_is_sublinear_and_bounded(size: int, scale: int) -> None:
    assert cluster_scale(size) == scale


def test_per_account_share_of_a_farm_shrinks() -> None:
    # an organisation of 200 keeps 8x the base; a farm of 24,000 accounts gets 16x in total
    assert cluster_scale(24_000) / 24_000 < cluster_scale(200) / 200 / 10


def test_plan_amounts_per_tier() -> None:
    planner = QuotaPlanner(
        load_settings(account_rpm=10, account_tpm=1000, cluster_rpm=4, quota_factor_suspect=0.5)
    )
    normal = planner.plan(Verdict("a", "c", 0.0, Tier.NORMAL))
    assert [(x.dimension, x.scope, x.amount) for x in normal.limits] == [
        (Dimension.REQUESTS, "account", 10),
        (Dimension.TOKENS, "account", 1000),
        (Dimension.REQUESTS, "cluster", 4),
    ]
    suspect = planner.plan(Verdict("a", "c", 0.0, Tier.SUSPECT, cluster_size=16))
    assert sorted(x.amount for x in suspect.limits) == [5, 8, 10, 16, 500, 1000]
    assert suspect.advertised_requests == 10


def test_sliding_wait_reaches_the_moment_the_cost_fits() -> None:
    expiry, limit = 60.0, 100
    # 80 tokens in the previous window, half of it still sliding out; 30 in the current window
    previous, previous_ttl, current, current_ttl = 80, 30.0, 30, 90.0
    wait = sliding_wait(previous, previous_ttl, current, current_ttl, limit, 40, expiry)
    weighted = previous * (previous_ttl - wait) / expiry + current
    assert weighted + 40 == pytest.approx(limit)
    # the current window alone is too full: wait for it to become the previous one and slide
    wait = sliding_wait(0, 0.0, 90, 90.0, limit, 40, expiry)
    assert wait == pytest.approx(30 + expiry * (1 - 60 / 90))
    assert sliding_wait(0, 0.0, 10, 90.0, limit, 40, expiry) == 0.0


def test_openai_reset_durations() -> None:
    state = WindowState(limit=5, remaining=0, reset_in=61.2)
    headers = dict(rate_limit_headers(ApiKind.OPENAI_RESPONSES, state, None, now=0.0))
    assert headers == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m2s",
    }
    short = dict(rate_limit_headers(ApiKind.OPENAI_CHAT, None, WindowState(9, 0, 0.25), now=0.0))
    assert short["x-ratelimit-reset-tokens"] == "250ms"
    anthropic = dict(rate_limit_headers(ApiKind.ANTHROPIC_MESSAGES, state, None, now=0.0))
    assert anthropic["anthropic-ratelimit-requests-reset"] == "1970-01-01T00:01:02Z"


def test_operator_multipliers_scale_the_account_and_the_cluster_apart() -> None:
    planner = QuotaPlanner(
        load_settings(account_rpm=10, account_tpm=1000, cluster_rpm=100, account_concurrency=2)
    )
    verdict = Verdict("acct", "c1", 0.9, Tier.SUSPECT, cluster_size=2)
    plain = planner.plan(verdict)
    bigger = planner.plan(verdict, (3.0, 0.5))
    amounts = {(lim.scope, lim.dimension, lim.tiered): lim.amount for lim in bigger.limits}
    assert amounts == {
        ("account", Dimension.REQUESTS, False): 30,
        ("account", Dimension.REQUESTS, True): 15,
        ("account", Dimension.TOKENS, False): 3000,
        ("account", Dimension.TOKENS, True): 1500,
        ("cluster", Dimension.REQUESTS, False): 50,
        ("cluster", Dimension.REQUESTS, True): 25,
    }
    assert bigger.concurrency == 3 and plain.concurrency == 1
    # The customer is told its own limit, never the tier's share.
    assert (bigger.advertised_requests, plain.advertised_requests) == (30, 10)
