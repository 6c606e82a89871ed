"""Tier changes are noticed once per change, counted in metrics and written to the audit log."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from guardgate.middleware import GuardgateMiddleware
from guardgate.model import ApiKind, Observation, Tier, Verdict
from guardgate.settings import load_settings


async def _noop_app(scope: object, receive: object, send: object) -> None:
    return None


def _obs() -> Observation:
    return Observation(ts=1.0, api=ApiKind.OPENAI_CHAT, account="acct", client_ip="", ip_prefix="")


async def test_tier_changes_counted_and_audited(caplog: pytest.LogCaptureFixture) -> None:
    mw = GuardgateMiddleware(_noop_app, load_settings())
    tiers = [Tier.NORMAL, Tier.NORMAL, Tier.SUSPECT, Tier.SUSPECT, Tier.EXTRACTOR, Tier.NORMAL]
    with caplog.at_level(logging.INFO, logger="guardgate.audit"):
        for tier in tiers:
            verdict = Verdict(account="acct", cluster="c-1", score=0.5, tier=tier)
            await mw.guard.admit(verdict, _obs(), hold_stream=False)
    changes = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "guardgate.audit" and '"tier_change"' in r.getMessage()
    ]
    assert [(c["from"], c["to"]) for c in changes] == [
        ("normal", "suspect"),
        ("suspect", "extractor"),
        ("extractor", "normal"),
    ]
    counted = {
        (s.labels["from_tier"], s.labels["to_tier"]): s.value
        for family in text_string_to_metric_families(mw.metrics.exposition().decode())
        if family.name == "guardgate_tier_changes"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert counted == {
        ("normal", "suspect"): 1,
        ("suspect", "extractor"): 1,
        ("extractor", "normal"): 1,
    }
