"""The audit log: one JSON line per decision that changed something, with the account HMAC,
cluster and reasons; and no raw key or prompt text in any log line at any level."""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from pathlib import Path

import pytest
from tests.admin.admin_client import TOKEN, admin, chat
from tests.admin.attack_traffic import attack, simulate
from tests.gateway import running_mock, running_sidecar

from guardgate.testing.redis_server import running_redis

# The test's own HTTP client logs on these; they are not guardgate's process.
_CLIENT_SIDE = ("httpx", "httpcore")


def _text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += "".join(traceback.format_exception(*record.exc_info))
    return text


def test_audit_lines_and_no_secrets_in_logs(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = simulate(tmp_path)
    marker = f"PROMPT-MARKER-{uuid.uuid4().hex}"
    key = f"sk-audit-{uuid.uuid4().hex}"
    with (
        running_redis() as redis,
        running_mock() as mock,
        running_sidecar(
            mock.url,
            admin_token=TOKEN,
            redis_url=redis.url,
            trusted_proxies="127.0.0.1/32",
            account_rpm=2,
        ) as gate,
    ):
        attack(gate.url, sim, quotas=True)  # simulated accounts exceed 2 requests a minute
        for _ in range(3):
            chat(gate.url, key, marker)
        with admin(gate.url) as ops:
            account = ops.post("accounts/lookup", json={"api_key": key}).json()["account"]
            ops.put(f"overrides/account/{account}", json={"tier": "blocked", "note": "audit"})
            assert chat(gate.url, key, marker).status_code == 403
            ops.delete(f"overrides/account/{account}")
        redis.stop()  # a fault: logged with its traceback
        chat(gate.url, f"sk-audit-{uuid.uuid4().hex}", marker)
        redis.start()

    records = [r for r in caplog.records if not r.name.startswith(_CLIENT_SIDE)]
    assert any(r.levelno >= logging.ERROR for r in records), "the Redis fault was not logged"
    secrets = [key, marker, *sim.keys]
    for record in records:
        text = _text(record)
        for secret in secrets:
            assert secret not in text, f"{record.name} {record.levelname} leaks {secret[:12]}…"

    audit = [json.loads(r.getMessage()) for r in records if r.name == "guardgate.audit"]
    decisions = [a for a in audit if a["event"] == "decision"]
    assert decisions
    for line in decisions:
        assert set(line) >= {"account", "cluster", "tier", "score", "actions", "reasons"}
        assert line["actions"], "only decisions that changed something are audited"
        if line["actions"] != ["fail_open"]:  # failing open, the engine gave no verdict
            assert len(line["account"]) == 24 and int(line["account"], 16) >= 0
    mine = [a for a in decisions if a["account"] == account]
    assert [a["actions"][0] for a in mine] == ["rate_limited", "blocked"]
    assert mine[1]["reasons"][0] == "operator override on account: blocked (audit)"
    assert any(a["actions"] == ["fail_open"] for a in decisions)
    farm = sim.members_of("hydra_farm")
    assert any(a["account"] in farm and a["cluster"] for a in decisions)
    events = [a["event"] for a in audit if a.get("subject") == account]
    assert events == ["override_set", "override_cleared"]
