"""Issue 18, finding 6: under strip, reasoning does not leak when the model is not known to open
`<think>` (omitted, "", or not in GUARDGATE_THINK_OPEN_MODELS), and an answer that cannot be read
is never passed raw. A real sidecar in front of a vLLM-like server without a reasoning parser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.gateway import running_sidecar
from tests.vllm_like import SECRET, vllm_like_app

from guardgate.testing import ServerThread

AUTH = {"authorization": "Bearer sk-real"}
MESSAGES = [{"role": "user", "content": "What is 6*7?"}]


@pytest.fixture(scope="module")
def gate() -> Iterator[ServerThread]:
    with (
        ServerThread(vllm_like_app()) as upstream,
        running_sidecar(upstream.url, reasoning_policy_normal="strip") as server,
    ):
        yield server


def _streamed_text(reply: httpx.Response) -> str:
    text = []
    for line in reply.text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                text.append(choice["delta"].get("content") or "")
    return "".join(text)


@pytest.mark.parametrize("model", [None, "", "qwen3-unlisted"])
def test_a_think_open_stream_does_not_leak_whatever_the_model(
    gate: ServerThread, model: str | None
) -> None:
    body: dict[str, Any] = {"messages": MESSAGES, "stream": True}
    if model is not None:
        body["model"] = model
    reply = httpx.post(gate.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10)
    assert reply.status_code == 200
    assert SECRET not in reply.text
    assert _streamed_text(reply) == "The answer: 42."


def test_a_stream_cut_before_its_closing_tag_does_not_leak(gate: ServerThread) -> None:
    body = {"model": "qwen3-unlisted", "messages": MESSAGES, "stream": True, "max_tokens": 5}
    reply = httpx.post(gate.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10)
    assert reply.status_code == 200
    assert SECRET not in reply.text and _streamed_text(reply) == ""


def test_a_json_answer_cut_mid_body_is_an_error_not_the_raw_body(gate: ServerThread) -> None:
    reply = httpx.post(
        gate.url + "/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={**AUTH, "x-cut-body": "1"},
        timeout=10,
    )
    assert reply.status_code == 502
    assert reply.json()["error"]["type"] == "server_error"
    assert SECRET not in reply.text
