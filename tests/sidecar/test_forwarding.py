"""The sidecar forwards real SDK calls, stream and non-stream, equivalently to the upstream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.gateway import normalise, running_mock, running_sidecar

from guardgate.testing import ServerThread

CHAT_MODELS = [
    "mock-reasoning-content",
    "mock-reasoning",
    "mock-think",
    "mock-think-open",
    "gpt-4o",
]


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


@pytest.fixture(scope="module")
def sidecar(mock: ServerThread) -> Iterator[ServerThread]:
    with running_sidecar(mock.url) as server:
        yield server


def _raw(base: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=10) as client:
        return client.post(path, json=body, headers=headers)


REQUESTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    *(
        (
            "/v1/chat/completions",
            {
                "model": m,
                "messages": [{"role": "user", "content": "What is 17 * 23?"}],
                "stream": s,
                **({"stream_options": {"include_usage": True}} if s else {}),
            },
            {"authorization": "Bearer sk-one"},
        )
        for m in CHAT_MODELS
        for s in (False, True)
    ),
    *(
        (
            "/v1/responses",
            {
                "model": "o4-mini",
                "input": "Why is the sky blue?",
                "reasoning": {"effort": "low", "summary": "auto"},
                "include": ["reasoning.encrypted_content"],
                "stream": s,
            },
            {"authorization": "Bearer sk-one"},
        )
        for s in (False, True)
    ),
    *(
        (
            "/v1/messages",
            {
                "model": "claude-mock-1",
                "max_tokens": 2048,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [{"role": "user", "content": "Plan a three-day trip to Rome."}],
                "stream": s,
            },
            {"x-api-key": "sk-ant-one", "anthropic-version": "2023-06-01"},
        )
        for s in (False, True)
    ),
]


@pytest.mark.parametrize(("path", "body", "headers"), REQUESTS)
def test_raw_bytes_match_direct_call(
    mock: ServerThread,
    sidecar: ServerThread,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    direct = _raw(mock.url, path, body, headers)
    proxied = _raw(sidecar.url, path, body, headers)
    assert proxied.status_code == direct.status_code == 200
    assert normalise(proxied.content) == normalise(direct.content)
    assert proxied.headers["content-type"] == direct.headers["content-type"]
    # upstream headers, rate-limit ones included, come back as sent
    for name in direct.headers:
        if name.startswith(("x-ratelimit", "anthropic-ratelimit", "openai-")):
            assert proxied.headers.get(name) == direct.headers[name], name


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_openai_sdk_chat(sidecar: ServerThread, model: str) -> None:
    client = openai.OpenAI(base_url=sidecar.url + "/v1", api_key="sk-one", max_retries=0)
    messages: Any = [{"role": "user", "content": "What is 17 * 23?"}]
    completion = client.chat.completions.create(model=model, messages=messages)
    text = completion.choices[0].message.content or ""
    assert "answer" in text.lower()
    pieces = []
    with client.chat.completions.create(model=model, messages=messages, stream=True) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces) == text


def test_openai_sdk_responses(sidecar: ServerThread) -> None:
    client = openai.OpenAI(base_url=sidecar.url + "/v1", api_key="sk-one", max_retries=0)
    response = client.responses.create(model="o4-mini", input="Why is the sky blue?")
    assert response.output_text
    with client.responses.stream(model="o4-mini", input="Why is the sky blue?") as stream:
        final = stream.get_final_response()
    assert final.output_text == response.output_text


def test_anthropic_sdk_messages(sidecar: ServerThread) -> None:
    client = anthropic.Anthropic(base_url=sidecar.url, api_key="sk-ant-one", max_retries=0)
    kwargs: Any = {
        "model": "claude-mock-1",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Plan a three-day trip to Rome."}],
    }
    message = client.messages.create(**kwargs)
    assert [b.type for b in message.content][:1] == ["thinking"]
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == [b.type for b in message.content]
    assert final.content[-1].type == "text" and message.content[-1].type == "text"
    assert final.content[-1].text == message.content[-1].text


def test_listed_paths_pass_through(mock: ServerThread) -> None:
    with running_sidecar(mock.url, passthrough_paths="/mock/*") as sidecar:
        direct = httpx.get(mock.url + "/mock/requests")
        proxied = httpx.get(sidecar.url + "/mock/requests")
        assert proxied.status_code == direct.status_code == 200
        missing = httpx.get(sidecar.url + "/v1/nothing-here")
        assert missing.status_code == 404


def test_health(sidecar: ServerThread) -> None:
    assert httpx.get(sidecar.url + "/_guardgate/health").json() == {"status": "ok"}
