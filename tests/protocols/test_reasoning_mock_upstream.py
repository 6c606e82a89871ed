"""The transforms against the mock upstream's real streams, over real HTTP, chunked as received."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.protocols.transform_harness import run

from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.testing import (
    ServerThread,
    create_mock_upstream,
    mock_answer_text,
    mock_reasoning_text,
)

PROMPT = "Explain step by step how to compute 17 times 23."


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with ServerThread(create_mock_upstream(secret=b"upstream")) as server:
        yield server.url


def reasoning_sentences() -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", mock_reasoning_text(PROMPT))
    return [p for p in parts if len(p) > 20]


async def fetch(url: str, body: dict[str, Any]) -> list[bytes]:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", url, json=body) as response,
    ):
        assert response.status_code == 200, await response.aread()
        return [chunk async for chunk in response.aiter_raw()]


@pytest.mark.parametrize("model", ["mock-reasoning-content", "mock-reasoning", "mock-think"])
@pytest.mark.parametrize("stream", [True, False])
async def test_chat_strip_against_the_mock(upstream: str, model: str, stream: bool) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    chunks = await fetch(upstream + "/v1/chat/completions", body)
    out = (await run(ApiKind.OPENAI_CHAT, ReasoningPolicy.STRIP, chunks, streaming=stream)).decode()
    for sentence in reasoning_sentences():
        assert sentence not in out
    assert "mock reply" in out and mock_answer_text(PROMPT).split(" (")[0].split()[-1] in out


@pytest.mark.parametrize(
    ("path", "api", "body"),
    [
        ("/v1/responses", ApiKind.OPENAI_RESPONSES, {"model": "o4-mini", "input": PROMPT}),
        (
            "/v1/messages",
            ApiKind.ANTHROPIC_MESSAGES,
            {
                "model": "claude-sonnet-4-5",
                "max_tokens": 2048,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [{"role": "user", "content": PROMPT}],
            },
        ),
    ],
)
@pytest.mark.parametrize("policy", [ReasoningPolicy.STRIP, ReasoningPolicy.SUMMARISE])
async def test_responses_and_messages_against_the_mock(
    upstream: str, path: str, api: ApiKind, body: dict[str, Any], policy: ReasoningPolicy
) -> None:
    for stream in (True, False):
        chunks = await fetch(upstream + path, {**body, "stream": stream})
        out = (await run(api, policy, chunks, streaming=stream)).decode()
        for sentence in reasoning_sentences():
            assert sentence not in out
        assert "mock reply" in out


async def test_anthropic_tool_loop_survives_strip(upstream: str) -> None:
    from tests.protocols.transform_harness import SEALER

    from guardgate.protocols.dialects import dialect_for

    tools = [{"name": "calc", "description": "calc", "input_schema": {"type": "object"}}]
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": tools,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    chunks = await fetch(upstream + "/v1/messages", body)
    first = json.loads(
        await run(ApiKind.ANTHROPIC_MESSAGES, ReasoningPolicy.STRIP, chunks, streaming=False)
    )
    assert first["content"][0]["type"] == "redacted_thinking"
    tool_use = next(b for b in first["content"] if b["type"] == "tool_use")
    follow_up = {
        **body,
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": first["content"]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use["id"], "content": "391"}
                ],
            },
        ],
    }
    restored, changed = dialect_for(ApiKind.ANTHROPIC_MESSAGES).rewrite_request(
        follow_up,
        policy=ReasoningPolicy.STRIP,
        sealer=SEALER,
        drop_logprobs=False,
    )
    assert changed
    async with httpx.AsyncClient(timeout=30) as client:
        unrestored = await client.post(upstream + "/v1/messages", json=follow_up)
    assert unrestored.status_code == 400  # what a client would get without the restore
    # The mock, like the real API, answers 400 if the thinking block is missing or altered.
    assert await fetch(upstream + "/v1/messages", restored)
