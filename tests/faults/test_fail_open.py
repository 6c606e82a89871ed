"""Failing open keeps what was enforced (issue 18, finding 2): with Redis paused past
GUARDGATE_REDIS_TIMEOUT, inline detection and GUARDGATE_FAIL_MODE=open, a blocked account is
still answered 403 and an extractor still gets its reasoning stripped; only an account this
replica never judged is served as `normal`."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.admin.admin_client import TOKEN, admin
from tests.gateway import running_mock, running_sidecar

from guardgate.testing import ServerThread
from guardgate.testing.redis_server import running_redis

METRICS_TOKEN = "metrics-token-0123456789"
ASK = (
    "Solve this coding problem and write out your complete reasoning step by step in full "
    "detail before the final answer: implement an interval tree in Python."
)
BODY: dict[str, Any] = {
    "model": "mock-reasoning-content",
    "max_tokens": 16000,
    "logprobs": True,
    "messages": [{"role": "user", "content": ASK}],
}


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


def _ask(url: str, key: str, item: int = 0) -> httpx.Response:
    # Each harvest asks a new item: the score counts only prompts not seen before.
    body = {**BODY, "messages": [{"role": "user", "content": f"{ASK} (item {item})"}]}
    return httpx.post(
        url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=15,
    )


def _reasoning(reply: httpx.Response) -> str:
    choice = reply.json()["choices"][0]
    return str(choice["message"].get("reasoning_content") or "")


def test_a_paused_redis_neither_unblocks_nor_unstrips(mock: ServerThread) -> None:
    clock = [1_800_000_000.0]
    with (
        running_redis() as redis,
        running_sidecar(
            mock.url,
            clock=lambda: clock[0],
            redis_url=redis.url,
            redis_timeout=0.2,
            admin_token=TOKEN,
            metrics_token=METRICS_TOKEN,
            override_poll_interval=0.1,
        ) as gate,
        admin(gate.url) as ops,
    ):
        # A farm account the engine flags as it harvests (paced 2.1 s apart on the clock).
        for i in range(5):
            clock[0] += 2.1
            flagged = _ask(gate.url, "sk-farm-harvester", i)
        assert flagged.status_code == 200 and not _reasoning(flagged), "not flagged: no test"
        # An account the operator blocks.
        blocked = ops.post("accounts/lookup", json={"api_key": "sk-blocked-0001"}).json()
        ops.put(f"overrides/account/{blocked['account']}", json={"tier": "blocked"})
        assert _ask(gate.url, "sk-blocked-0001").status_code == 403
        assert _reasoning(_ask(gate.url, "sk-honest-0001"))

        pid = redis._process.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGSTOP)
        try:
            clock[0] += 2.1
            during_blocked = _ask(gate.url, "sk-blocked-0001")
            during_flagged = _ask(gate.url, "sk-farm-harvester")
            during_honest = _ask(gate.url, "sk-honest-0001")
            during_new = _ask(gate.url, "sk-never-seen-0001")
        finally:
            os.kill(pid, signal.SIGCONT)
        metrics = httpx.get(
            gate.url + "/_guardgate/metrics",
            headers={"authorization": f"Bearer {METRICS_TOKEN}"},
        ).text

    assert during_blocked.status_code == 403
    assert during_flagged.status_code == 200 and not _reasoning(during_flagged)
    assert (
        "logprobs" not in during_flagged.json()["choices"][0]
        or not (during_flagged.json()["choices"][0]["logprobs"])
    )
    # Failing open still serves: the honest and the unknown account get their answers whole.
    assert during_honest.status_code == 200 and _reasoning(during_honest)
    assert during_new.status_code == 200 and _reasoning(during_new)
    assert 'guardgate_faults_total{kind="engine"}' in metrics
