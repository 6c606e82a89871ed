"""Tier changes are noticed once per change, counted in metrics and written to the audit log."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from guardgate.events import Events
from guardgate.metrics import Metrics
from guardgate.model import Tier, Verdict


def test_tier_changes_counted_and_audited(caplog: pytest.LogCaptureFixture) -> None:
    events = Events(Metrics())
    tiers = [Tier.NORMAL, Tier.NORMAL, Tier.SUSPECT, Tier.SUSPECT, Tier.EXTRACTOR, Tier.NORMAL]
    with caplog.at_level(logging.INFO, logger="guardgate.audit"):
        for tier in tiers:
            events.tier_in_force(Verdict(account="acct", cluster="c-1", score=0.5, tier=tier))
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
        for family in text_string_to_metric_families(events.metrics.exposition().decode())
        if family.name == "guardgate_tier_changes"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert counted == {
        ("normal", "suspect"): 1,
        ("suspect", "extractor"): 1,
        ("extractor", "normal"): 1,
    }
