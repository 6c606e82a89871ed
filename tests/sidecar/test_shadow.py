"""Shadow mode through a real sidecar: an account the engine flags gets the upstream's bytes
unchanged, while the decision it would have got is logged."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from tests.gateway import normalise, running_mock, running_sidecar

ASK = (
    "Solve this coding problem and write out your complete reasoning step by step in full "
    "detail before the final answer: implement an interval tree in Python."
)


def _body(stream: bool, item: int = 0) -> dict[str, Any]:
    return {
        "model": "mock-reasoning-content",
        "max_tokens": 16000,
        "logprobs": True,
        "messages": [{"role": "user", "content": f"{ASK} (item {item})"}],
        "stream": stream,
    }


def _flag(url: str, key: str, clock: list[float]) -> list[httpx.Response]:
    """Harvest like a farm account until the engine calls it an extractor, paced on the sidecar's
    clock. Each request asks a new item: a prompt repeated verbatim harvests nothing new, and the
    score counts only prompts not seen before."""
    headers = {"authorization": f"Bearer {key}"}
    replies = []
    for i in range(5):
        if i:
            clock[0] += 2.1
        replies.append(
            httpx.post(
                url + "/v1/chat/completions", json=_body(False, i), headers=headers, timeout=15
            )
        )
    return replies


def _decisions(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "guardgate.audit"]


@pytest.mark.parametrize("stream", [False, True])
def test_shadow_mode_passes_the_upstream_bytes_and_logs_the_decision(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="guardgate.audit")
    clock = [1_800_000_000.0]
    with (
        running_mock() as mock,
        running_sidecar(mock.url, clock=lambda: clock[0], mode="shadow") as sidecar,
    ):
        _flag(sidecar.url, "sk-farm-shadow", clock)
        headers = {"authorization": "Bearer sk-farm-shadow"}
        via = httpx.post(
            sidecar.url + "/v1/chat/completions", json=_body(stream), headers=headers, timeout=15
        )
        direct = httpx.post(
            mock.url + "/v1/chat/completions", json=_body(stream), headers=headers, timeout=15
        )
    assert via.status_code == direct.status_code == 200
    assert normalise(via.content) == normalise(direct.content)
    assert b"reasoning_content" in via.content and b"logprobs" in via.content
    logged = [d for d in _decisions(caplog) if d.get("shadow")]
    assert logged and logged[-1]["tier"] == "extractor"
    assert "strip_reasoning" in logged[-1]["actions"]


def test_the_same_account_is_hardened_when_enforcing() -> None:
    clock = [1_800_000_000.0]
    with running_mock() as mock, running_sidecar(mock.url, clock=lambda: clock[0]) as sidecar:
        replies = _flag(sidecar.url, "sk-farm-enforce", clock)
    assert b"reasoning_content" in replies[0].content
    last = replies[-1].json()["choices"][0]
    assert not last["message"].get("reasoning_content")
    assert not last.get("logprobs")
