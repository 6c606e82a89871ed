"""The mock's Responses API, driven by the real openai SDK and read raw."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from guardgate.testing import (
    mock_answer_text,
    mock_reasoning_text,
    mock_summary_text,
    mock_tool_arguments,
)

PROMPT = "Sort these numbers and explain each comparison: 9, 3, 7."
TOOLS: Any = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]
ENCRYPTED: Any = ["reasoning.encrypted_content"]


@pytest.fixture
def client(mock_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{mock_url}/v1", api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def _create(client: openai.OpenAI, stream: bool, **kwargs: Any) -> openai.types.responses.Response:
    if stream:
        with client.responses.stream(**kwargs) as s:
            final: openai.types.responses.Response = s.get_final_response()
            return final
    created: openai.types.responses.Response = client.responses.create(**kwargs)
    return created


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_item_then_message(client: openai.OpenAI, stream: bool) -> None:
    response = _create(client, stream, model="o4-mini", input=PROMPT, include=ENCRYPTED)
    reasoning, message = response.output
    assert reasoning.type == "reasoning"
    assert [s.text for s in reasoning.summary] == [mock_summary_text(PROMPT)]
    assert reasoning.content is not None
    assert [c.text for c in reasoning.content] == [mock_reasoning_text(PROMPT)]
    assert reasoning.encrypted_content
    assert message.type == "message"
    assert response.output_text == mock_answer_text(PROMPT)
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens > 50
    assert response.usage.output_tokens > response.usage.output_tokens_details.reasoning_tokens


def test_summary_repeats_no_reasoning_sentence() -> None:
    summary = mock_summary_text(PROMPT)
    for sentence in mock_reasoning_text(PROMPT).split(". "):
        assert sentence not in summary


def test_encrypted_content_only_when_included(client: openai.OpenAI) -> None:
    response = client.responses.create(model="o4-mini", input=PROMPT)
    assert response.output[0].type == "reasoning"
    assert response.output[0].encrypted_content is None


def test_plain_model_has_no_reasoning(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4o-mini", input=PROMPT)
    assert [o.type for o in response.output] == ["message"]
    assert response.output_text == mock_answer_text(PROMPT)


def test_stream_has_every_event_type_numbered_in_order(mock_url: str) -> None:
    body = {"model": "o4-mini", "input": PROMPT, "stream": True}
    with httpx.stream("POST", f"{mock_url}/v1/responses", json=body) as response:
        text = response.read().decode()
    frames = [f for f in text.split("\n\n") if f]
    events = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        payload = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        events.append(payload)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    types = {e["type"] for e in events}
    assert types >= {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.output_item.done",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.completed",
    }
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"


@pytest.mark.parametrize("stream", [False, True])
def test_function_call_loop_with_reasoning_items(client: openai.OpenAI, stream: bool) -> None:
    first = _create(client, stream, model="o4-mini", input=PROMPT, tools=TOOLS, include=ENCRYPTED)
    reasoning, call = first.output
    assert call.type == "function_call"
    assert call.name == "lookup"
    assert call.arguments == mock_tool_arguments(PROMPT)
    follow_up: Any = [
        {"role": "user", "content": PROMPT},
        reasoning.model_dump(exclude_none=True),
        call.model_dump(exclude_none=True, exclude={"parsed_arguments"}),
        {"type": "function_call_output", "call_id": call.call_id, "output": "3, 7, 9"},
    ]
    second = _create(client, stream, model="o4-mini", input=follow_up, tools=TOOLS)
    assert second.output[-1].type == "message"
    assert second.output_text == mock_answer_text(PROMPT)


def test_foreign_encrypted_content_is_rejected(client: openai.OpenAI) -> None:
    first = client.responses.create(model="o4-mini", input=PROMPT, include=ENCRYPTED)
    reasoning: Any = first.output[0].model_dump(exclude_none=True)
    assert reasoning["encrypted_content"]
    forged: Any = {**reasoning, "encrypted_content": "Z2cx" + reasoning["encrypted_content"][8:]}
    turn: Any = [{"role": "user", "content": "and then?"}]
    accepted = client.responses.create(model="o4-mini", input=[reasoning, *turn])
    assert accepted.output_text == mock_answer_text("and then?")
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="o4-mini", input=[forged, *turn])
    assert "could not be verified" in str(caught.value)
    body: Any = caught.value.body
    assert body["type"] == "invalid_request_error"
