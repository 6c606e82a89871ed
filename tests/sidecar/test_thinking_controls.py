"""The providers' 2026 reasoning controls through a real sidecar, with the real SDKs, in front of a
mock that enforces them as the providers document them.

- Anthropic `thinking: {"type": "between_tools"}` (Claude Sonnet 5.5): nothing may be added beside
  it (a `display` is a 400), and the progress notes it returns between tool calls are thinking
  blocks, hidden like any other and restored for the next turn.
- Anthropic thinking block binding (beta `thinking-binding-controls-2026-08-01`): the beta header
  and `thinking.block_binding` reach the upstream, and the `input_transformations` it answers name
  the block the client sent (restoring keeps every block in its place).
- OpenAI Responses `reasoning.context: "all_turns"` (gpt-5.6): the reasoning items of every
  earlier turn come back, and every one guardgate sealed is restored, not only the current turn's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.gateway import running_mock, running_sidecar

from guardgate.testing import ServerThread, mock_answer_text, mock_reasoning_text

PROMPT = "What is 17 * 23?"
TRACE = mock_reasoning_text(PROMPT)
BETWEEN: Any = {"type": "between_tools"}
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}
BINDING_BETA = "thinking-binding-controls-2026-08-01"
CALC_TOOL: Any = {
    "name": "calc",
    "description": "Evaluates arithmetic.",
    "input_schema": {"type": "object"},
}
FUNCTION_TOOL: Any = {
    "type": "function",
    "name": "calc",
    "description": "Evaluates arithmetic.",
    "parameters": {"type": "object", "properties": {}},
}
POLICIES = ["strip", "summarise", "pass"]


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


@pytest.fixture(scope="module")
def sidecars(mock: ServerThread) -> Iterator[dict[str, ServerThread]]:
    with (
        running_sidecar(mock.url, reasoning_policy_normal="strip") as strip,
        running_sidecar(mock.url, reasoning_policy_normal="summarise") as summarise,
        running_sidecar(mock.url, reasoning_policy_normal="pass") as passing,
    ):
        yield {"strip": strip, "summarise": summarise, "pass": passing}


def last_upstream_request(mock: ServerThread) -> dict[str, Any]:
    seen: dict[str, Any] = httpx.get(mock.url + "/mock/requests").json()[-1]
    return seen


def fragments(text: str) -> list[bytes]:
    """Every run of three words of `text` as it appears in JSON (the mock streams three words at
    a time, so any leaked delta holds one)."""
    words = text.split()
    runs = (" ".join(words[i : i + 3]) for i in range(len(words) - 2))
    return [json.dumps(run)[1:-1].encode() for run in runs]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 12]


def dumped(blocks: list[Any]) -> list[Any]:
    return [b.model_dump(exclude_none=True, exclude={"parsed_output"}) for b in blocks]


# --- Anthropic between_tools ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("policy", POLICIES)
def test_between_tools_progress_notes_are_hidden_and_restored(
    mock: ServerThread, sidecars: dict[str, ServerThread], policy: str, stream: bool
) -> None:
    server = sidecars[policy]
    body: Any = {"model": "claude-sonnet-5-5", "max_tokens": 2048, "thinking": BETWEEN}
    body["tools"] = [CALC_TOOL]
    with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-one", max_retries=0) as client:

        def call(messages: list[Any]) -> Any:
            if stream:
                with client.messages.stream(**body, messages=messages) as events:
                    return events.get_final_message()
            return client.messages.create(**body, messages=messages)

        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        first = call(messages)  # the mock answers 400 to anything beside between_tools
        assert [b.type for b in first.content] == ["tool_use"]
        assert last_upstream_request(mock)["body"]["thinking"] == BETWEEN
        result = {"type": "tool_result", "tool_use_id": first.content[0].id, "content": "391"}
        messages += [
            {"role": "assistant", "content": dumped(first.content)},
            {"role": "user", "content": [result]},
        ]
        second = call(messages)
        note = second.content[0]
        assert second.content[-1].text == mock_answer_text(PROMPT)
        if policy == "strip":
            assert note.type == "redacted_thinking" and note.data.startswith("gg1.")
        elif policy == "summarise":
            assert note.type == "thinking" and note.signature.startswith("gg1.")
            assert note.thinking and len(note.thinking) < len(TRACE) / 2
        else:
            assert note.type == "thinking" and note.thinking == TRACE
        messages += [
            {"role": "assistant", "content": dumped(second.content)},
            {"role": "user", "content": "And 17 * 24?"},
        ]
        # The mock checks the note's signature: the original block must have come back.
        assert call(messages).stop_reason == "tool_use"
    sent_back = last_upstream_request(mock)["body"]["messages"][3]["content"][0]
    assert sent_back["type"] == "thinking" and sent_back["thinking"] == TRACE
    raw = httpx.post(
        server.url + "/v1/messages",
        json={**body, "messages": messages[:3], "stream": stream},
        headers={"x-api-key": "sk-ant-one", "anthropic-version": "2023-06-01"},
        timeout=15,
    )
    assert raw.status_code == 200
    if policy == "strip":
        assert [f for f in fragments(TRACE) if f in raw.content] == []
    elif policy == "summarise":
        assert [s for s in sentences(TRACE) if s.encode() in raw.content] == []
        assert raw.content.count(b'"thinking_delta"') == int(stream)  # the summary's one delta


# --- Anthropic thinking block binding ------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("policy", ["strip", "summarise"])
def test_input_transformations_name_the_block_the_client_sent(
    mock: ServerThread, sidecars: dict[str, ServerThread], policy: str, stream: bool
) -> None:
    binding: Any = {"type": "adaptive", "block_binding": {"prefix_mismatch_behavior": "drop_block"}}
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    kwargs: Any = {"max_tokens": 2048, "thinking": binding, "betas": [BINDING_BETA]}
    server = sidecars[policy]
    with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-one", max_retries=0) as client:

        def call(model: str) -> Any:
            if stream:
                with client.beta.messages.stream(model=model, messages=messages, **kwargs) as s:
                    return s.get_final_message()
            return client.beta.messages.create(model=model, messages=messages, **kwargs)

        first = call("claude-fable-5-1")
        assert first.input_transformations == []
        hidden = dumped(first.content)[0]
        assert hidden["type"] == ("redacted_thinking" if policy == "strip" else "thinking")
        messages += [
            {"role": "assistant", "content": dumped(first.content)},
            {"role": "user", "content": "And 17 * 24?"},
        ]
        # On another model the upstream drops the block it cannot read and says where it was.
        second = call("claude-opus-5")
    upstream = last_upstream_request(mock)
    assert BINDING_BETA in dict(upstream["header_list"])["anthropic-beta"]
    assert upstream["body"]["thinking"]["block_binding"] == binding["block_binding"]
    restored = upstream["body"]["messages"][1]["content"][0]
    assert restored["type"] == "thinking" and not restored["signature"].startswith("gg1.")
    assert restored["thinking"] == ("" if policy == "strip" else TRACE)  # strip asked omitted
    entries = [(t.type, t.path, t.reason) for t in second.input_transformations or []]
    assert entries == [("thinking_dropped", "messages.1.content.0", "model_binding_mismatch")]
    assert messages[1]["content"][0] == hidden  # the path names the client's own sealed block


# --- OpenAI Responses reasoning.context ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("policy", ["strip", "summarise"])
def test_all_turns_gets_every_earlier_turns_reasoning_back(
    mock: ServerThread, sidecars: dict[str, ServerThread], policy: str, stream: bool
) -> None:
    body: Any = {
        "model": "gpt-5.6",
        "tools": [FUNCTION_TOOL],
        "store": False,
        "reasoning": {"effort": "low", "summary": "auto", "context": "all_turns"},
        "include": ["reasoning.encrypted_content"],
    }
    server = sidecars[policy]
    with openai.OpenAI(base_url=server.url + "/v1", api_key="sk-one", max_retries=0) as client:

        def call(items: list[Any]) -> Any:
            if stream:
                with client.responses.stream(**body, input=items) as events:
                    return events.get_final_response()
            return client.responses.create(**body, input=items)

        items: list[Any] = [{"role": "user", "content": PROMPT}]
        first = call(items)
        assert [item.type for item in first.output] == ["reasoning", "function_call"]
        output = {"type": "function_call_output", "call_id": first.output[1].call_id}
        items += [*dumped(first.output), {**output, "output": "391"}]
        second = call(items)
        assert second.output_text == mock_answer_text(PROMPT)
        items += [*dumped(second.output), {"role": "user", "content": "And 17 * 24?"}]
        # Two turns' reasoning items, both sealed: the mock answers 400 to any it did not mint.
        third = call(items)
    assert third.reasoning is not None and third.reasoning.context == "all_turns"
    sent = [item for item in items if item.get("type") == "reasoning"]
    assert len(sent) == 2 and all(i["encrypted_content"].startswith("gg1.") for i in sent)
    upstream = last_upstream_request(mock)["body"]
    assert upstream["reasoning"]["context"] == "all_turns"
    restored = [item for item in upstream["input"] if item.get("type") == "reasoning"]
    assert [item["id"] for item in restored] == [item["id"] for item in sent]
    assert all(item["content"][0]["text"] == TRACE for item in restored)


# --- Anthropic token counting ---------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["strip", "summarise"])
def test_token_counting_gets_the_sealed_blocks_restored(
    mock: ServerThread, sidecars: dict[str, ServerThread], policy: str
) -> None:
    # `POST /v1/messages/count_tokens` checks thinking signatures as `/v1/messages` does: a
    # client counting a conversation that holds guardgate's sealed blocks needs them restored.
    body: Any = {"model": "claude-mock-1", "thinking": THINKING, "tools": [CALC_TOOL]}
    server = sidecars[policy]
    with anthropic.Anthropic(base_url=server.url, api_key="sk-ant-one", max_retries=0) as client:
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        first = client.messages.create(**body, max_tokens=2048, messages=messages)
        result = {"type": "tool_result", "tool_use_id": first.content[-1].id, "content": "391"}
        messages += [
            {"role": "assistant", "content": dumped(first.content)},
            {"role": "user", "content": [result]},
        ]
        assert client.messages.count_tokens(**body, messages=messages).input_tokens > 5
        restored = last_upstream_request(mock)["body"]["messages"][1]["content"][0]
        assert restored["type"] == "thinking" and not restored["signature"].startswith("gg1.")
        sealed = messages[1]["content"][0]
        key = "data" if policy == "strip" else "signature"
        sealed[key] = sealed[key][:-6] + ("AAAAAA" if sealed[key][-6:] != "AAAAAA" else "BBBBBB")
        calls = len(httpx.get(mock.url + "/mock/requests").json())
        with pytest.raises(anthropic.BadRequestError) as err:
            client.messages.count_tokens(**body, messages=messages)
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert len(httpx.get(mock.url + "/mock/requests").json()) == calls  # refused here
