"""Issue 18, finding 3: every route that serves model output is judged, or not served. A real
sidecar under uvicorn in front of an app with vLLM's and SGLang's routes, and the same app with
the middleware mounted; everyone is `normal` with the normal policy set to strip, so a route
that is judged hides the trace ("SECRET-PLAN") and counts against the quota."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.gateway import running_sidecar
from tests.vllm_like import DOORS, SECRET, calls, guarded, vllm_like_app

from guardgate.testing import ServerThread

AUTH = {"authorization": "Bearer sk-real"}
CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "What is 6*7?"}]}
PROMPT: dict[str, Any] = {"model": "m", "prompt": "What is 6*7?"}
STRICT: dict[str, Any] = {"reasoning_policy_normal": "strip", "account_rpm": 3}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    with ServerThread(vllm_like_app()) as server:
        yield server


@pytest.mark.parametrize("door", DOORS)
def test_invocations_alias_is_judged_like_its_post(door: str, upstream: ServerThread) -> None:
    # Before: answered with the reasoning, without quota.
    with guarded(door, upstream, **STRICT) as gate, httpx.Client(timeout=10) as http:
        url = gate.url + "/invocations"
        chat = http.post(url, json=CHAT, headers=AUTH)
        assert chat.status_code == 200
        assert chat.json()["choices"][0]["message"]["content"] == "The answer: 42."
        assert SECRET not in chat.text
        completion = http.post(url, json=PROMPT, headers=AUTH)
        assert completion.status_code == 200
        assert completion.json()["choices"][0]["text"] == "The answer: 42."
        assert SECRET not in completion.text
        third = http.post(url, json=CHAT, headers=AUTH)
        assert http.post(url, json=CHAT, headers=AUTH).status_code == 429
        assert third.status_code == 200
        # A body guardgate cannot map is not served.
        other = http.post(url, json={"model": "m", "input": "embed me"}, headers=AUTH)
        assert other.status_code == 404


@pytest.mark.parametrize("door", DOORS)
def test_aliases_it_cannot_transform_are_denied(door: str, upstream: ServerThread) -> None:
    with guarded(door, upstream, **STRICT) as gate, httpx.Client(timeout=10) as http:
        before = len(calls)
        for path, body in (
            ("/inference/v1/generate", {"token_ids": [1, 2], "sampling_params": {}}),
            ("/generate", {"text": "What is 6*7?", "sampling_params": {}}),
        ):
            for method in ("POST", "PUT"):  # SGLang's /generate takes PUT as well
                reply = http.request(method, gate.url + path, json=body, headers=AUTH)
                assert reply.status_code == 404, (method, path)
                assert reply.json()["error"]["code"] == "not_found"
                assert SECRET not in reply.text
        assert len(calls) == before


@pytest.mark.parametrize("door", DOORS)
def test_read_backs_get_the_accounts_reasoning_policy(door: str, upstream: ServerThread) -> None:
    # Before: GET /v1/responses/{id} returned the reasoning the POST had stripped.
    strict = guarded(door, upstream, reasoning_policy_normal="strip")
    with strict as gate, httpx.Client(timeout=10) as http:
        stored = http.get(gate.url + "/v1/responses/resp_1", headers=AUTH)
        assert stored.status_code == 200
        output = stored.json()["output"]
        assert [item["type"] for item in output] == ["reasoning", "message"]
        assert output[0]["summary"] == [] and output[0]["encrypted_content"]
        assert SECRET not in stored.text
        chat = http.get(gate.url + "/v1/chat/completions/chatcmpl-1", headers=AUTH)
        assert chat.status_code == 200
        assert chat.json()["choices"][0]["message"]["content"] == "The answer: 42."
        assert SECRET not in chat.text
    with guarded(door, upstream) as gate, httpx.Client(timeout=10) as http:
        # Under the pass policy the stored answer is as stored.
        assert SECRET in http.get(gate.url + "/v1/responses/resp_1", headers=AUTH).text


def test_sidecar_forwards_only_what_it_judges_or_lists(upstream: ServerThread) -> None:
    with running_sidecar(upstream.url) as gate, httpx.Client(timeout=10) as http:
        before = len(calls)
        denied = [
            ("POST", "/v1/batches"),
            ("GET", "/v1/responses/resp_1/input_items"),
            ("GET", "/health"),
            ("GET", "/v1/files/file-1/content"),
            ("PUT", "/v1/chat/completions"),
        ]
        for method, path in denied:
            reply = http.request(method, gate.url + path, headers=AUTH, json={})
            assert reply.status_code == 404, path
            assert reply.json()["error"]["type"] == "invalid_request_error"
        anthropic = http.post(gate.url + "/v1/messages/batches", headers=AUTH, json={})
        assert anthropic.status_code == 404
        assert anthropic.json()["error"]["type"] == "not_found_error"
        assert len(calls) == before
        models = http.get(gate.url + "/v1/models", headers=AUTH)
        assert models.status_code == 200 and models.json()["data"][0]["id"] == "m"
    with (
        running_sidecar(upstream.url, passthrough_paths="/health,/v1/batches*") as gate,
        httpx.Client(timeout=10) as http,
    ):
        assert http.get(gate.url + "/health").json() == {"status": "ok"}
        assert http.post(gate.url + "/v1/batches", headers=AUTH, json={}).status_code == 200
        assert http.get(gate.url + "/v1/responses/r/input_items").status_code == 404
