"""The mock's Chat Completions and legacy Completions, driven by the real openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from guardgate.testing.mock_upstream import (
    mock_answer_text,
    mock_reasoning_text,
    mock_tool_arguments,
)

PROMPT = "Explain why the sum of two odd numbers is even."
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]
REASONING = mock_reasoning_text(PROMPT)
ANSWER = mock_answer_text(PROMPT)


@pytest.fixture
def client(mock_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{mock_url}/v1", api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def _user(text: str = PROMPT) -> Any:
    """Messages typed loosely: the SDK's TypedDicts do not accept plain dicts."""
    return [{"role": "user", "content": text}]


def test_texts_are_deterministic_distinct_and_stepwise() -> None:
    assert mock_reasoning_text(PROMPT) == REASONING
    assert mock_reasoning_text("something else") != REASONING
    assert 80 <= len(REASONING.split()) <= 200
    assert REASONING.startswith("First, I restate the problem:")
    assert "Step 2:" in REASONING and "Step 5:" in REASONING
    assert ANSWER.startswith("The answer is")
    for sentence in REASONING.split(". "):
        assert sentence not in ANSWER


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_field_non_stream(client: openai.OpenAI, field: str) -> None:
    model = "mock-reasoning-content" if field == "reasoning_content" else "mock-reasoning"
    completion = client.chat.completions.create(model=model, messages=_user())
    message = completion.choices[0].message
    assert message.content == ANSWER
    assert getattr(message, field) == REASONING
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens_details is not None
    assert (completion.usage.completion_tokens_details.reasoning_tokens or 0) > 50
    assert completion.usage.prompt_tokens > 5


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_field_stream_accumulates(client: openai.OpenAI, field: str) -> None:
    model = "mock-reasoning-content" if field == "reasoning_content" else "mock-reasoning"
    with client.chat.completions.stream(
        model=model,
        messages=_user(),
        stream_options={"include_usage": True},
    ) as stream:
        deltas = [e for e in stream if e.type == "chunk"]
        final = stream.get_final_completion()
    assert final.choices[0].message.content == ANSWER
    assert getattr(final.choices[0].message, field) == REASONING
    assert final.usage is not None and final.usage.total_tokens > 0
    reasoning_chunks = [
        c for c in deltas if c.chunk.choices and c.chunk.choices[0].delta.model_extra
    ]
    assert len(reasoning_chunks) > 10  # a few words per chunk


@pytest.mark.parametrize(
    ("model", "prefix"), [("mock-think", "<think>\n"), ("mock-think-open", "")]
)
@pytest.mark.parametrize("stream", [False, True])
def test_inline_think_styles(client: openai.OpenAI, model: str, prefix: str, stream: bool) -> None:
    expected = f"{prefix}{REASONING}\n</think>\n\n{ANSWER}"
    if stream:
        with client.chat.completions.stream(model=model, messages=_user()) as s:
            content = s.get_final_completion().choices[0].message.content
    else:
        content = (
            client.chat.completions.create(
                model=model,
                messages=_user(),
            )
            .choices[0]
            .message.content
        )
    assert content == expected


def _raw_stream(url: str, body: dict[str, object]) -> list[dict[str, object]]:
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


@pytest.mark.parametrize("model", ["mock-think", "mock-think-open"])
def test_think_tags_are_split_across_chunks(mock_url: str, model: str) -> None:
    chunks = _raw_stream(mock_url, {"model": model, "messages": _user(), "stream": True})
    contents = [
        c["choices"][0]["delta"].get("content")  # type: ignore[index]
        for c in chunks
        if c["choices"]
    ]
    pieces = [p for p in contents if p]
    assert "</think>" not in pieces and not any("</think>" in p for p in pieces)
    assert "</t" in pieces and "hink>" in pieces
    if model == "mock-think":
        assert "<thi" in pieces and "nk>" in pieces


def test_stream_order_role_first_finish_then_usage(mock_url: str) -> None:
    body = {
        "model": "mock-reasoning-content",
        "messages": _user(),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = _raw_stream(mock_url, body)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"  # type: ignore[index]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"  # type: ignore[index]
    assert all(c["usage"] is None for c in chunks[:-1])
    no_usage = _raw_stream(mock_url, {**body, "stream_options": None})
    assert all(c["choices"] for c in no_usage) and "usage" not in no_usage[-1]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_then_text_after_tool_result(client: openai.OpenAI, stream: bool) -> None:
    messages: Any = _user()
    first: openai.types.chat.ChatCompletion
    if stream:
        with client.chat.completions.stream(
            model="mock-reasoning-content",
            messages=messages,
            tools=TOOLS,
        ) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(
            model="mock-reasoning-content",
            messages=messages,
            tools=TOOLS,
        )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "lookup"
    assert call.function.arguments == mock_tool_arguments(PROMPT)
    messages.append(choice.message.model_dump(exclude_none=True, exclude={"parsed"}))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "42"})
    second = client.chat.completions.create(
        model="mock-reasoning-content",
        messages=messages,
        tools=TOOLS,
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == ANSWER


@pytest.mark.parametrize("stream", [False, True])
def test_n_choices_are_distinct_and_complete(client: openai.OpenAI, stream: bool) -> None:
    completion: openai.types.chat.ChatCompletion
    if stream:
        with client.chat.completions.stream(
            model="mock-reasoning",
            messages=_user(),
            n=3,
        ) as s:
            completion = s.get_final_completion()
    else:
        completion = client.chat.completions.create(
            model="mock-reasoning",
            messages=_user(),
            n=3,
        )
    assert [c.index for c in completion.choices] == [0, 1, 2]
    for c in completion.choices:
        assert c.message.content == mock_answer_text(PROMPT, c.index)
        assert getattr(c.message, "reasoning") == mock_reasoning_text(PROMPT, c.index)  # noqa: B009
    assert len({c.message.content for c in completion.choices}) == 3


def test_no_reasoning_for_plain_models(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=_user())
    message = completion.choices[0].message
    assert message.content == ANSWER
    assert not message.model_extra


@pytest.mark.parametrize("stream", [False, True])
def test_legacy_completions(client: openai.OpenAI, stream: bool) -> None:
    if stream:
        text = "".join(
            c.choices[0].text
            for c in client.completions.create(model="mock-think", prompt=PROMPT, stream=True)
            if c.choices
        )
    else:
        text = client.completions.create(model="mock-think", prompt=PROMPT).choices[0].text
    assert text == f"<think>\n{REASONING}\n</think>\n\n{ANSWER}"
    plain = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT)
    assert plain.choices[0].text == ANSWER
