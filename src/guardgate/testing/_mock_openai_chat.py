"""The mock's OpenAI Chat Completions (`/v1/chat/completions`) and legacy `/v1/completions`.

The model name picks the reasoning style, as the servers behind an OpenAI-compatible API differ:
`mock-reasoning-content` (DeepSeek / vLLM `reasoning_content`), `mock-reasoning` (newer vLLM and
OpenRouter `reasoning`), `mock-think` (inline `<think>…</think>`), `mock-think-open` (the opening
tag sat in the chat template, so only `</think>` appears), anything else: no reasoning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from starlette.requests import Request
from starlette.responses import Response

from guardgate.model import ApiKind
from guardgate.testing._mock_http import (
    JsonObject,
    MockState,
    json_response,
    new_id,
    read_request,
    sse_event,
    sse_response,
)
from guardgate.testing._mock_text import (
    content_text,
    count_tokens,
    mock_answer_text,
    mock_reasoning_text,
    mock_tool_arguments,
    pieces,
    think_tag_cuts,
)


class ReasoningStyle(StrEnum):
    """How an OpenAI-compatible server hands out the chain of thought."""

    REASONING_CONTENT = "reasoning_content"
    REASONING = "reasoning"
    THINK = "think"
    THINK_OPEN = "think_open"
    NONE = "none"


_STYLES = {
    "mock-reasoning-content": ReasoningStyle.REASONING_CONTENT,
    "mock-reasoning": ReasoningStyle.REASONING,
    "mock-think": ReasoningStyle.THINK,
    "mock-think-open": ReasoningStyle.THINK_OPEN,
}


def reasoning_style(model: object) -> ReasoningStyle:
    """The reasoning style the mock uses for a model name."""
    return _STYLES.get(str(model), ReasoningStyle.NONE)


def inline_think(reasoning: str, answer: str, *, opened_in_prompt: bool) -> str:
    """Content with the reasoning inline, as R1-style models write it."""
    opening = "" if opened_in_prompt else "<think>\n"
    return f"{opening}{reasoning}\n</think>\n\n{answer}"


@dataclass(frozen=True, slots=True)
class _Turn:
    """What one choice says."""

    reasoning: str
    reasoning_field: str | None
    content: str | None
    tool_call: tuple[str, str, str] | None  # call id, function name, arguments
    finish_reason: str

    def completion_tokens(self) -> int:
        tokens = count_tokens(self.content or "") + count_tokens(self.reasoning_field_text)
        return tokens + (count_tokens(self.tool_call[2]) if self.tool_call else 0)

    @property
    def reasoning_field_text(self) -> str:
        return self.reasoning if self.reasoning_field else ""


def _last_user_text(messages: list[object]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _tool_name(tools: object) -> str | None:
    if not isinstance(tools, list) or not tools:
        return None
    first = tools[0]
    if isinstance(first, dict):
        function = first.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return str(function["name"])
    return None


def _turn(body: JsonObject, style: ReasoningStyle, choice: int) -> _Turn:
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    prompt = _last_user_text(messages)
    last = messages[-1] if messages else {}
    tool_name = _tool_name(body.get("tools"))
    call = None
    if tool_name and isinstance(last, dict) and last.get("role") == "user":
        call = (new_id("call_")[:29], tool_name, mock_tool_arguments(prompt))
    answer = "" if call else mock_answer_text(prompt, choice)
    reasoning = "" if style is ReasoningStyle.NONE else mock_reasoning_text(prompt, choice)
    content: str | None = answer or None
    field = None
    if style in (ReasoningStyle.THINK, ReasoningStyle.THINK_OPEN):
        content = inline_think(
            reasoning, answer, opened_in_prompt=style is ReasoningStyle.THINK_OPEN
        )
    elif style is not ReasoningStyle.NONE:
        field = style.value
    return _Turn(reasoning, field, content, call, "tool_calls" if call else "stop")


def _choices(body: JsonObject) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and 1 <= n <= 16 else 1


def _prompt_tokens(messages: object) -> int:
    if not isinstance(messages, list):
        return 0
    text = "".join(
        content_text(m.get("content")) + str(m.get("role", ""))
        for m in messages
        if isinstance(m, dict)
    )
    return count_tokens(text) + 3 * len(messages) + 3


def _usage(prompt_tokens: int, turns: list[_Turn]) -> JsonObject:
    completion = sum(t.completion_tokens() for t in turns)
    reasoning = sum(count_tokens(t.reasoning) for t in turns)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _message(turn: _Turn) -> JsonObject:
    message: JsonObject = {
        "role": "assistant",
        "content": turn.content,
        "refusal": None,
        "annotations": [],
    }
    if turn.reasoning_field:
        message[turn.reasoning_field] = turn.reasoning
    if turn.tool_call:
        call_id, name, arguments = turn.tool_call
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        ]
    return message


def _deltas(turn: _Turn) -> list[JsonObject]:
    """The deltas of one choice, in stream order, before its finish chunk."""
    deltas: list[JsonObject] = [{"role": "assistant", "content": "", "refusal": None}]
    if turn.reasoning_field:
        deltas += [{turn.reasoning_field: p} for p in pieces(turn.reasoning)]
    if turn.content:
        deltas += [{"content": p} for p in pieces(turn.content, cuts=think_tag_cuts(turn.content))]
    if turn.tool_call:
        call_id, name, arguments = turn.tool_call
        head = {"index": 0, "id": call_id, "type": "function"}
        deltas.append({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        deltas += [
            {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}
            for p in pieces(arguments, words=2)
        ]
    return deltas


def _round_robin(per_choice: list[list[JsonObject]]) -> list[JsonObject]:
    """Choices interleaved as OpenAI streams them for n > 1."""
    out: list[JsonObject] = []
    for step in range(max(len(c) for c in per_choice)):
        out += [c[step] for c in per_choice if step < len(c)]
    return out


def _include_usage(body: JsonObject) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _stream(body: JsonObject, turns: list[_Turn], usage: JsonObject, chat: bool) -> list[bytes]:
    include_usage = _include_usage(body)
    base: JsonObject = {
        "id": new_id("chatcmpl-" if chat else "cmpl-"),
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "system_fingerprint": "fp_mock",
    }
    if chat:
        base["service_tier"] = "default"
    choice_items: list[list[JsonObject]] = []
    for index, turn in enumerate(turns):
        items: list[JsonObject]
        if chat:
            items = [
                {"index": index, "delta": d, "logprobs": None, "finish_reason": None}
                for d in _deltas(turn)
            ]
            items.append({"index": index, "delta": {}, "logprobs": None, "finish_reason": None})
        else:
            items = [
                {"text": p, "index": index, "logprobs": None, "finish_reason": None}
                for p in pieces(turn.content or "", cuts=think_tag_cuts(turn.content or ""))
            ]
            items.append({"text": "", "index": index, "logprobs": None, "finish_reason": None})
        items[-1]["finish_reason"] = turn.finish_reason
        choice_items.append(items)
    events = []
    for item in _round_robin(choice_items):
        chunk = {**base, "choices": [item]}
        if include_usage:
            chunk["usage"] = None
        events.append(sse_event(chunk))
    if include_usage:
        events.append(sse_event({**base, "choices": [], "usage": usage}))
    events.append(sse_event("[DONE]"))
    return events


async def chat_completions(request: Request, state: MockState) -> Response:
    """`POST /v1/chat/completions`."""
    parsed = await read_request(request, ApiKind.OPENAI_CHAT, state, ("model", "messages"))
    if isinstance(parsed, Response):
        return parsed
    body, controls = parsed
    style = reasoning_style(body.get("model"))
    turns = [_turn(body, style, i) for i in range(_choices(body))]
    usage = _usage(_prompt_tokens(body.get("messages")), turns)
    if body.get("stream") is True:
        return sse_response(ApiKind.OPENAI_CHAT, _stream(body, turns, usage, True), controls)
    return json_response(
        ApiKind.OPENAI_CHAT,
        {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {
                    "index": i,
                    "message": _message(t),
                    "logprobs": None,
                    "finish_reason": t.finish_reason,
                }
                for i, t in enumerate(turns)
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
        },
        controls,
    )


def _completion_turn(prompt: str, style: ReasoningStyle, choice: int) -> _Turn:
    answer = mock_answer_text(prompt, choice)
    if style in (ReasoningStyle.THINK, ReasoningStyle.THINK_OPEN):
        reasoning = mock_reasoning_text(prompt, choice)
        text = inline_think(reasoning, answer, opened_in_prompt=style is ReasoningStyle.THINK_OPEN)
        return _Turn(reasoning, None, text, None, "stop")
    return _Turn("", None, answer, None, "stop")


async def completions(request: Request, state: MockState) -> Response:
    """`POST /v1/completions` (legacy): only the inline `<think>` styles carry reasoning here."""
    parsed = await read_request(request, ApiKind.OPENAI_COMPLETIONS, state, ("model", "prompt"))
    if isinstance(parsed, Response):
        return parsed
    body, controls = parsed
    raw_prompt = body.get("prompt")
    prompt = raw_prompt[0] if isinstance(raw_prompt, list) and raw_prompt else raw_prompt
    prompt = prompt if isinstance(prompt, str) else ""
    style = reasoning_style(body.get("model"))
    turns = [_completion_turn(prompt, style, i) for i in range(_choices(body))]
    usage = _usage(count_tokens(prompt), turns)
    if body.get("stream") is True:
        events = _stream(body, turns, usage, False)
        return sse_response(ApiKind.OPENAI_COMPLETIONS, events, controls)
    return json_response(
        ApiKind.OPENAI_COMPLETIONS,
        {
            "id": new_id("cmpl-"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {"text": t.content, "index": i, "logprobs": None, "finish_reason": t.finish_reason}
                for i, t in enumerate(turns)
            ],
            "usage": usage,
            "system_fingerprint": "fp_mock",
        },
        controls,
    )
