"""Tier changes are noticed once per change, counted in metrics and written to the audit log."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest, InlineDetection
from guardgate.model import ApiKind, Observation, Tier, Verdict
from guardgate.settings import load_settings


async def test_tier_changes_counted_and_audited(caplog: pytest.LogCaptureFixture) -> None:
    """The gate notices each change of an account's tier in force, through its events."""
    deployment = Deployment.from_settings(load_settings())
    detection = deployment.detection
    assert isinstance(detection, InlineDetection)
    tiers = iter(
        [Tier.NORMAL, Tier.NORMAL, Tier.SUSPECT, Tier.SUSPECT, Tier.EXTRACTOR, Tier.NORMAL]
    )

    async def scripted(obs: Observation) -> Verdict:
        return Verdict(account=obs.account, cluster="c-1", score=0.5, tier=next(tiers))

    detection.engine.observe = scripted  # type: ignore[method-assign]
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    request = GateRequest(ApiKind.OPENAI_CHAT, [(b"authorization", b"Bearer sk-t")], "", b"", data)
    with caplog.at_level(logging.INFO, logger="guardgate.audit"):
        for _ in range(6):
            await deployment.gate.admit(request)
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
        for family in text_string_to_metric_families(deployment.metrics.exposition().decode())
        if family.name == "guardgate_tier_changes"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert counted == {
        ("normal", "suspect"): 1,
        ("suspect", "extractor"): 1,
        ("extractor", "normal"): 1,
    }
