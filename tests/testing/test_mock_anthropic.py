"""The mock's Messages API, driven by the real anthropic SDK, including the thinking tool loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from guardgate.testing import mock_answer_text, mock_reasoning_text, mock_tool_arguments

PROMPT = "Which of 17, 21 and 23 are prime? Show your reasoning."
THINKING: Any = {"type": "enabled", "budget_tokens": 2048}
TOOLS: Any = [
    {
        "name": "lookup",
        "description": "Look something up.",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]


@pytest.fixture
def client(mock_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=mock_url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def _send(client: anthropic.Anthropic, stream: bool, **kwargs: Any) -> anthropic.types.Message:
    kwargs.setdefault("max_tokens", 4096)
    if stream:
        with client.messages.stream(**kwargs) as s:
            final: anthropic.types.Message = s.get_final_message()
            return final
    created: anthropic.types.Message = client.messages.create(**kwargs)
    return created


def _user(text: str = PROMPT) -> Any:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_then_text(client: anthropic.Anthropic, stream: bool) -> None:
    message = _send(client, stream, model="mock-claude", thinking=THINKING, messages=_user())
    thinking, text = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == mock_reasoning_text(PROMPT)
    assert thinking.signature
    assert text.type == "text" and text.text == mock_answer_text(PROMPT)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 5 and message.usage.output_tokens > 50


@pytest.mark.parametrize("stream", [False, True])
def test_no_thinking_unless_asked(client: anthropic.Anthropic, stream: bool) -> None:
    message = _send(client, stream, model="mock-claude", messages=_user())
    assert [b.type for b in message.content] == ["text"]


@pytest.mark.parametrize("stream", [False, True])
def test_display_omitted_sends_only_the_signature(
    client: anthropic.Anthropic, stream: bool
) -> None:
    omitted: Any = {"type": "adaptive", "display": "omitted"}
    message = _send(client, stream, model="mock-claude", thinking=omitted, messages=_user())
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "" and thinking.signature


def test_redacted_model_adds_redacted_block(client: anthropic.Anthropic) -> None:
    message = _send(client, True, model="mock-redacted", thinking=THINKING, messages=_user())
    assert [b.type for b in message.content] == ["thinking", "redacted_thinking", "text"]
    redacted = message.content[1]
    assert redacted.type == "redacted_thinking" and redacted.data


def _tool_loop(
    client: anthropic.Anthropic, stream: bool, model: str = "mock-claude", thinking: Any = THINKING
) -> tuple[Any, anthropic.types.Message]:
    messages = _user()
    first = _send(client, stream, model=model, thinking=thinking, tools=TOOLS, messages=messages)
    assert first.stop_reason == "tool_use"
    tool_use = first.content[-1]
    assert tool_use.type == "tool_use" and tool_use.name == "lookup"
    assert tool_use.input == json.loads(mock_tool_arguments(PROMPT))
    messages.append(
        {
            "role": "assistant",
            "content": [
                b.model_dump(exclude_none=True, exclude={"parsed_output"}) for b in first.content
            ],
        }
    )
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "17, 23"}],
        }
    )
    return messages, first


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["mock-claude", "mock-redacted"])
def test_tool_loop_succeeds_when_blocks_echoed(
    client: anthropic.Anthropic, stream: bool, model: str
) -> None:
    messages, _ = _tool_loop(client, stream, model)
    final = _send(client, stream, model=model, thinking=THINKING, tools=TOOLS, messages=messages)
    assert final.stop_reason == "end_turn"
    assert final.content[-1].type == "text"
    assert final.content[-1].text == mock_answer_text(PROMPT)


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_with_omitted_display_succeeds(client: anthropic.Anthropic, stream: bool) -> None:
    omitted: Any = {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}
    messages, _ = _tool_loop(client, stream, thinking=omitted)
    final = _send(client, stream, model="m", thinking=omitted, tools=TOOLS, messages=messages)
    assert final.content[-1].type == "text"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_without_thinking_block_is_rejected(
    client: anthropic.Anthropic, stream: bool
) -> None:
    messages, _ = _tool_loop(client, stream)
    messages[1]["content"] = [b for b in messages[1]["content"] if b["type"] != "thinking"]
    with pytest.raises(anthropic.BadRequestError) as caught:
        _send(client, stream, model="m", thinking=THINKING, tools=TOOLS, messages=messages)
    assert "must start with a thinking block" in str(caught.value)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("field", ["signature", "thinking"])
def test_tool_loop_with_altered_thinking_is_rejected(
    client: anthropic.Anthropic, stream: bool, field: str
) -> None:
    messages, _ = _tool_loop(client, stream)
    block = messages[1]["content"][0]
    block[field] = block[field][:-8] + ("AAAAAAA=" if field == "signature" else " edited")
    with pytest.raises(anthropic.BadRequestError) as caught:
        _send(client, stream, model="m", thinking=THINKING, tools=TOOLS, messages=messages)
    assert "Invalid `signature`" in str(caught.value)


def test_budget_below_minimum_is_rejected(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        _send(
            client,
            False,
            model="m",
            thinking={"type": "enabled", "budget_tokens": 100},
            messages=_user(),
        )


# --- 2026: between_tools thinking and thinking block binding -----------------------------------

BETWEEN: Any = {"type": "between_tools"}
BINDING_BETA = "thinking-binding-controls-2026-08-01"


@pytest.mark.parametrize("stream", [False, True])
def test_between_tools_thinks_only_after_a_tool_result(
    client: anthropic.Anthropic, stream: bool
) -> None:
    messages, first = _tool_loop(client, stream, thinking=BETWEEN)
    assert [b.type for b in first.content] == ["tool_use"]  # no up-front thinking
    second = _send(client, stream, model="m", thinking=BETWEEN, tools=TOOLS, messages=messages)
    note, text = second.content
    assert note.type == "thinking" and note.thinking == mock_reasoning_text(PROMPT)
    assert text.type == "text"
    # The note goes back with the turn; the mock checks its signature.
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in second.content]},
        {"role": "user", "content": "And 29?"},
    ]
    _send(client, stream, model="m", thinking=BETWEEN, tools=TOOLS, messages=messages)
    messages[-2]["content"][0]["thinking"] += " edited"
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        _send(client, stream, model="m", thinking=BETWEEN, tools=TOOLS, messages=messages)


@pytest.mark.parametrize("extra", ["display", "budget_tokens", "block_binding"])
def test_between_tools_takes_no_other_field(client: anthropic.Anthropic, extra: str) -> None:
    value: Any = {"display": "omitted", "budget_tokens": 2048, "block_binding": {}}[extra]
    thinking: Any = {"type": "between_tools", extra: value}
    with pytest.raises(anthropic.BadRequestError, match=f"between_tools.{extra}"):
        _send(client, False, model="m", thinking=thinking, messages=_user())


def test_block_binding_needs_the_beta(client: anthropic.Anthropic) -> None:
    thinking: Any = {"type": "adaptive", "block_binding": {"prefix_mismatch_behavior": "error"}}
    with pytest.raises(anthropic.BadRequestError, match="block_binding"):
        _send(client, False, model="m", thinking=thinking, messages=_user())
    message = client.beta.messages.create(
        model="m", max_tokens=4096, thinking=thinking, messages=_user(), betas=[BINDING_BETA]
    )
    assert message.input_transformations == []


@pytest.mark.parametrize("stream", [False, True])
def test_another_models_thinking_is_dropped_and_reported(
    client: anthropic.Anthropic, stream: bool
) -> None:
    first = _send(client, stream, model="mock-redacted", thinking=THINKING, messages=_user())
    blocks = [b.model_dump(exclude_none=True) for b in first.content]
    messages: Any = [*_user(), {"role": "assistant", "content": blocks}, *_user("And 29?")]
    kwargs: Any = {"max_tokens": 4096, "thinking": THINKING, "messages": messages}
    # Without the beta the drop is silent; the answer is the same.
    assert _send(client, stream, model="m", **kwargs).content[-1].type == "text"
    if stream:
        with client.beta.messages.stream(model="m", betas=[BINDING_BETA], **kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.beta.messages.create(model="m", betas=[BINDING_BETA], **kwargs)
    assert [(t.type, t.path, t.reason) for t in message.input_transformations or []] == [
        ("thinking_dropped", "messages.1.content.0", "model_binding_mismatch"),
        ("thinking_dropped", "messages.1.content.1", "model_binding_mismatch"),
    ]
    same = client.beta.messages.create(model="mock-redacted", betas=[BINDING_BETA], **kwargs)
    assert same.input_transformations == []


def test_count_tokens_checks_thinking_signatures(client: anthropic.Anthropic) -> None:
    messages, _ = _tool_loop(client, False)
    counted = client.messages.count_tokens(
        model="m", thinking=THINKING, tools=TOOLS, messages=messages
    )
    assert counted.input_tokens > 5
    messages[1]["content"][0]["signature"] = "forged"
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        client.messages.count_tokens(model="m", thinking=THINKING, tools=TOOLS, messages=messages)
