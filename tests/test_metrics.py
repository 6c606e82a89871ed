"""`/_guardgate/metrics` on a real sidecar, parsed as Prometheus exposition: the counters move
with what guardgate decided."""

from __future__ import annotations

import json
import logging
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.admin.admin_client import TOKEN, admin, chat
from tests.gateway import running_mock, running_sidecar

from guardgate.testing.redis_server import running_redis

METRICS = "/_guardgate/metrics"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the sidecar's metrics, by name and labels."""
    res = httpx.get(url + METRICS, headers={"authorization": f"Bearer {TOKEN}"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(res.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_429s_hardening_and_blocks_are_counted() -> None:
    with (
        running_mock() as mock,
        running_sidecar(mock.url, admin_token=TOKEN, account_rpm=3) as gate,
    ):
        before = scrape(gate.url)
        assert (
            value(
                before,
                "guardgate_requests_total",
                api="openai_chat",
                tier="normal",
                decision="forwarded",
            )
            == 0
        )

        key = f"sk-metrics-{uuid.uuid4().hex}"
        first = chat(gate.url, key)
        assert first.json()["choices"][0]["message"]["reasoning_content"]  # passed to normal
        statuses = [chat(gate.url, key).status_code for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        after = scrape(gate.url)
        assert (
            value(
                after,
                "guardgate_requests_total",
                api="openai_chat",
                tier="normal",
                decision="forwarded",
            )
            == 3
        )
        assert (
            value(
                after,
                "guardgate_requests_total",
                api="openai_chat",
                tier="normal",
                decision="rate_limited",
            )
            == 2
        )
        limited = sum(v for (n, _), v in after.items() if n == "guardgate_rate_limited_total")
        assert limited == 2
        assert value(after, "guardgate_added_latency_seconds_count") == 3
        assert (
            sum(v for (n, _), v in after.items() if n == "guardgate_reasoning_hardened_total") == 0
        )

        # An extractor's reasoning is stripped; a blocked account is answered 403.
        other = f"sk-metrics-{uuid.uuid4().hex}"
        with admin(gate.url) as ops:
            account = ops.post("accounts/lookup", json={"api_key": other}).json()["account"]
            ops.put(f"overrides/account/{account}", json={"tier": "extractor"})
            stripped = chat(gate.url, other).json()["choices"][0]["message"]
            assert not stripped.get("reasoning_content")
            ops.put(f"overrides/account/{account}", json={"tier": "blocked"})
            assert chat(gate.url, other).status_code == 403
        final = scrape(gate.url)
        assert (
            value(final, "guardgate_reasoning_hardened_total", api="openai_chat", policy="strip")
            == 1
        )
        assert (
            value(
                final,
                "guardgate_requests_total",
                api="openai_chat",
                tier="extractor",
                decision="forwarded",
            )
            == 1
        )
        assert (
            value(
                final,
                "guardgate_requests_total",
                api="openai_chat",
                tier="blocked",
                decision="blocked",
            )
            == 1
        )


def test_redis_faults_are_counted_and_fail_open() -> None:
    with (
        running_redis() as redis,
        running_mock() as mock,
        running_sidecar(
            mock.url, admin_token=TOKEN, redis_url=redis.url, redis_timeout=1.0
        ) as gate,
    ):
        assert chat(gate.url, "sk-fault-test").status_code == 200
        assert (
            sum(v for (n, _), v in scrape(gate.url).items() if n == "guardgate_faults_total") == 0
        )
        redis.stop()
        assert chat(gate.url, "sk-fault-test").status_code == 200  # fail open (default)
        faults = {
            dict(labels)["kind"]: v
            for (n, labels), v in scrape(gate.url).items()
            if n == "guardgate_faults_total"
        }
        assert sum(faults.values()) >= 1
        assert faults.get("engine", 0) >= 1
        redis.start()


def test_metrics_path_setting() -> None:
    with (
        running_mock() as mock,
        running_sidecar(mock.url, metrics_path="", admin_token=TOKEN) as gate,
    ):
        assert httpx.get(gate.url + METRICS, headers=AUTH).status_code == 404


def test_metrics_are_not_public() -> None:
    # Before: served to anyone on the client's port, so a client could watch tier counts
    # (`tier="suspect"`) move with its own requests.
    with running_mock() as mock:
        with running_sidecar(mock.url) as gate:  # no token configured: not served at all
            assert httpx.get(gate.url + METRICS).status_code == 404
        with running_sidecar(mock.url, metrics_token="scraper-token") as gate:
            chat(gate.url, "sk-watcher")
            for wrong in ({}, {"authorization": "Bearer sk-watcher"}, AUTH):
                denied = httpx.get(gate.url + METRICS, headers=wrong)
                assert denied.status_code == 401 and "guardgate_" not in denied.text
            good = httpx.get(gate.url + METRICS, headers={"authorization": "Bearer scraper-token"})
            assert good.status_code == 200 and "guardgate_requests_total" in good.text


@pytest.mark.parametrize("detection", ["inline", "process"])
def test_completion_tokens_are_the_upstreams_usage(detection: str) -> None:
    """Without a quota, `guardgate_tokens_total{kind="completion"}` adds the usage the upstream
    reported, for JSON answers and streams; with a detector process, it reads the JSON ones."""
    with (
        running_mock() as mock,
        running_sidecar(mock.url, metrics_token=TOKEN, detection=detection) as gate,
    ):
        key = f"sk-tokens-{uuid.uuid4().hex}"
        reported = 0
        for _ in range(3):
            res = chat(gate.url, key)
            assert res.status_code == 200
            reported += res.json()["usage"]["completion_tokens"]
        body = {
            "model": "mock-reasoning-content",
            "messages": [{"role": "user", "content": "count to three"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with httpx.stream(
            "POST",
            gate.url + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
            timeout=10,
        ) as res:
            events = [line[6:] for line in res.iter_lines() if line.startswith("data: {")]
        usage = [json.loads(e)["usage"] for e in events if json.loads(e).get("usage")]
        reported += usage[-1]["completion_tokens"]
        assert reported > 0
        deadline = time.monotonic() + 10
        while (got := value(scrape(gate.url), "guardgate_tokens_total", kind="completion")) < (
            reported
        ):
            assert time.monotonic() < deadline, f"{got} of {reported} completion tokens counted"
            time.sleep(0.02)
        assert got == reported


def test_a_429_names_its_limit_in_the_metric_and_audit_never_to_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="guardgate.audit")
    with (
        running_mock() as mock,
        running_sidecar(mock.url, admin_token=TOKEN, account_rpm=2) as gate,
    ):
        key = f"sk-limit-{uuid.uuid4().hex}"
        replies = [chat(gate.url, key) for _ in range(3)]
        assert [r.status_code for r in replies] == [200, 200, 429]
        samples = scrape(gate.url)
    assert (
        value(samples, "guardgate_rate_limited_total", api="openai_chat", limit="account_requests")
        == 1
    )
    assert not value(
        samples, "guardgate_rate_limited_total", api="openai_chat", limit="rate_limited"
    )
    told = replies[2].text + repr(sorted(replies[2].headers.items()))
    for secret in ("account_requests", "account", "cluster", "quota:", "normal"):
        assert secret not in told.lower()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "guardgate.audit"]
    limited = [line for line in lines if "rate_limited" in line.get("actions", [])]
    assert len(limited) == 1
    assert limited[0]["limit"] == "account_requests"
    assert limited[0]["reasons"] == ["quota: account requests limit reached"]


def test_shadow_mode_counts_what_enforcement_would_have_done() -> None:
    with (
        running_mock() as mock,
        running_sidecar(mock.url, admin_token=TOKEN, mode="shadow", account_rpm=1) as gate,
    ):
        limited = f"sk-shadow-{uuid.uuid4().hex}"
        assert [chat(gate.url, limited).status_code for _ in range(2)] == [200, 200]
        keys = {tier: f"sk-shadow-{uuid.uuid4().hex}" for tier in ("extractor", "blocked")}
        with admin(gate.url) as ops:
            for tier, key in keys.items():
                account = ops.post("accounts/lookup", json={"api_key": key}).json()["account"]
                ops.put(f"overrides/account/{account}", json={"tier": tier})
        for key in keys.values():
            reply = chat(gate.url, key)
            assert reply.status_code == 200
            assert reply.json()["choices"][0]["message"]["reasoning_content"]  # nothing changed
        samples = scrape(gate.url)
    would = {
        (dict(labels)["action"], dict(labels)["tier"]): v
        for (name, labels), v in samples.items()
        if name == "guardgate_shadow_would_total"
    }
    assert would == {
        ("limited", "normal"): 1,
        ("stripped", "extractor"): 1,
        ("blocked", "blocked"): 1,
    }
