"""The mock's Anthropic Messages API (`POST /v1/messages`), stream and non-stream.

With `thinking` enabled (`{"type": "enabled", "budget_tokens": n}` or `{"type": "adaptive"}`) the
answer starts with a `thinking` block signed under this mock's key (`display: "omitted"` sends an
empty text with the signature). Model `mock-redacted` adds a `redacted_thinking` block. Like the
real API, a tool loop whose assistant turn lost its thinking block, or carries an altered one, is
rejected with 400, so a proxy that mangles thinking blocks breaks loudly in tests.

`{"type": "between_tools"}` (Claude Sonnet 5.5's lowest setting) does no up-front thinking: only an
answer to a tool result starts with a thinking block, the progress note, whose text comes back. It
takes no other field: `display`, `budget_tokens` or `block_binding` beside it is a 400.

A thinking block is bound to the model that made it: sent to another model it is dropped before
the model reads it (usage is not adjusted). With the `thinking-binding-controls-2026-08-01` beta
the answer lists each drop in a top-level `input_transformations` (on `message_start` when
streaming), its `path` indexing the request's `messages` and `content`; `thinking.block_binding`
without that beta is a 400. `POST /v1/messages/count_tokens` checks a request as `/v1/messages`
does, thinking signatures included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from guardgate.model import ApiKind
from guardgate.testing._mock_http import (
    JsonObject,
    MockState,
    error_response,
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
)

_API = ApiKind.ANTHROPIC_MESSAGES
THINKING_KIND = "anthropic.thinking"
REDACTED_KIND = "anthropic.redacted_thinking"
_THINKING_TYPES = ("thinking", "redacted_thinking")
_THINKING_MODES = ("enabled", "adaptive", "between_tools")
BINDING_BETA = "thinking-binding-controls-2026-08-01"
_MISSING_THINKING = (
    "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
    "`{found}`. When `thinking` is enabled, a final `assistant` message must start with a thinking "
    "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you "
    "include thinking blocks from previous turns. To avoid this requirement, disable `thinking`."
)


def _blocks(message: object) -> list[JsonObject]:
    if not isinstance(message, dict):
        return []
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _has_tool_result(message: object) -> bool:
    return any(b.get("type") == "tool_result" for b in _blocks(message))


def _is_user(message: object) -> bool:
    return isinstance(message, dict) and message.get("role") == "user"


def _messages(body: JsonObject) -> list[object]:
    messages = body.get("messages")
    return messages if isinstance(messages, list) else []


def _check_config(thinking: JsonObject, beta: str) -> str | None:
    """Why the `thinking` object itself is refused, as the real API words it, or None."""
    kind = thinking.get("type")
    if kind == "between_tools":
        extra = next((key for key in thinking if key != "type"), None)
        if extra is not None:
            return f"thinking.between_tools.{extra}: Extra inputs are not permitted"
    elif "block_binding" in thinking and BINDING_BETA not in beta:
        return f"thinking.{kind}.block_binding: Extra inputs are not permitted"
    return None


def _check_thinking(body: JsonObject, state: MockState, *, leading: bool = True) -> str | None:
    """Why a request with thinking enabled is invalid, as the real API words it, or None;
    `leading`: the tool loop's assistant turn must begin with thinking (not so for
    `between_tools`, which does not think up front)."""
    messages = _messages(body)
    for i, message in enumerate(messages):
        if _is_user(message):
            continue
        for j, block in enumerate(_blocks(message)):
            kind = block.get("type")
            if kind == "thinking" and not state.signer.verify(
                THINKING_KIND, block.get("signature"), str(block.get("thinking", ""))
            ):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if kind == "redacted_thinking" and not state.signer.verify(
                REDACTED_KIND, block.get("data")
            ):
                return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
    if not leading or not messages or not _has_tool_result(messages[-1]):
        return None
    # The current tool loop started at the last user message that is not a tool result; the
    # assistant message answering it must begin with its thinking.
    start = max(
        (i for i, m in enumerate(messages) if _is_user(m) and not _has_tool_result(m)), default=-1
    )
    if start + 1 < len(messages) and not _is_user(messages[start + 1]):
        blocks = _blocks(messages[start + 1])
        found = str(blocks[0].get("type")) if blocks else "nothing"
        if found not in _THINKING_TYPES:
            return _MISSING_THINKING.format(index=start + 1, found=found)
    return None


def _dropped(body: JsonObject, state: MockState) -> list[JsonObject]:
    """`input_transformations` entries for the thinking blocks another model made."""
    model = str(body.get("model"))
    entries: list[JsonObject] = []
    for i, message in enumerate(_messages(body)):
        content = message.get("content") if isinstance(message, dict) else None
        if _is_user(message) or not isinstance(content, list):
            continue
        for j, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") not in _THINKING_TYPES:
                continue
            token = block.get("signature" if block.get("type") == "thinking" else "data")
            producer = state.producers.get(token) if isinstance(token, str) else None
            if producer is not None and producer != model:
                entries.append(
                    {
                        "type": "thinking_dropped",
                        "path": f"messages.{i}.content.{j}",
                        "reason": "model_binding_mismatch",
                    }
                )
    return entries


def _check_budget(body: JsonObject) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget, max_tokens = thinking.get("budget_tokens"), body.get("max_tokens")
    if not isinstance(budget, int) or budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if isinstance(max_tokens, int) and max_tokens <= budget:
        return "`max_tokens` must be greater than `thinking.budget_tokens`."
    return None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the mock will answer to one Messages request."""

    blocks: list[JsonObject]
    stop_reason: str
    input_tokens: int
    output_tokens: int


def _tool_name(tools: object) -> str | None:
    if isinstance(tools, list):
        for tool in tools:
            # client tools have an input_schema; server tools (web search…) a versioned type
            if isinstance(tool, dict) and "input_schema" in tool:
                return str(tool.get("name"))
    return None


def _input_tokens(body: JsonObject) -> int:
    system = body.get("system")
    text = content_text(system, ("text",))
    for message in _messages(body):
        for block in _blocks(message):
            text += str(block.get("text") or block.get("thinking") or "")
            if block.get("type") in ("tool_use", "tool_result"):
                text += json.dumps(block.get("input") or block.get("content") or "")
    return count_tokens(text) + 4 * len(_messages(body))


def _plan(body: JsonObject, state: MockState, interleaved: bool) -> _Plan:
    messages = _messages(body)
    prompt = next(
        (content_text(m.get("content"), ("text",)) for m in reversed(messages)
         if isinstance(m, dict) and _is_user(m) and not _has_tool_result(m)),
        "",
    )  # fmt: skip
    thinking = body.get("thinking")
    thinking = thinking if isinstance(thinking, dict) else {}
    continuing = bool(messages) and _has_tool_result(messages[-1])
    if thinking.get("type") == "between_tools":
        thinks = continuing  # only the progress note written between tool calls
    else:
        # Without interleaved thinking Claude thinks once, at the start of the assistant turn.
        thinks = thinking.get("type") in ("enabled", "adaptive") and (not continuing or interleaved)
    blocks: list[JsonObject] = []
    reasoning = mock_reasoning_text(prompt) if thinks else ""
    model = str(body.get("model"))
    if thinks:
        omitted = thinking.get("display") == "omitted"
        signature = state.signer.sign(THINKING_KIND, reasoning, omitted=omitted)
        state.produced(signature, model)
        blocks.append(
            {"type": "thinking", "thinking": "" if omitted else reasoning, "signature": signature}
        )
        if model == "mock-redacted":
            data = state.signer.sign(REDACTED_KIND, "redacted\x00" + reasoning)
            state.produced(data, model)
            blocks.append({"type": "redacted_thinking", "data": data})
    tool = _tool_name(body.get("tools"))
    output = count_tokens(reasoning)
    if tool and not continuing:
        arguments = mock_tool_arguments(prompt)
        blocks.append(
            {
                "type": "tool_use",
                "id": new_id("toolu_")[:30],
                "name": tool,
                "input": json.loads(arguments),
            }
        )
        return _Plan(blocks, "tool_use", _input_tokens(body), output + count_tokens(arguments))
    answer = mock_answer_text(prompt)
    blocks.append({"type": "text", "text": answer})
    return _Plan(blocks, "end_turn", _input_tokens(body), output + count_tokens(answer))


def _usage(input_tokens: int, output_tokens: int) -> JsonObject:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _event(event_type: str, **fields: object) -> bytes:
    return sse_event({"type": event_type, **fields}, event=event_type)


def _stream_block(index: int, block: JsonObject) -> list[bytes]:
    kind = block["type"]
    start: JsonObject
    deltas: list[JsonObject] = []
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(str(block["thinking"]))]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces(str(block["text"]))]
    elif kind == "tool_use":
        start = {**block, "input": {}}
        arguments = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [
            {"type": "input_json_delta", "partial_json": p} for p in pieces(arguments, words=2)
        ]
    else:  # redacted_thinking arrives whole
        start = block
    events = [_event("content_block_start", index=index, content_block=start)]
    if index == 0:
        events.append(_event("ping"))
    events += [_event("content_block_delta", index=index, delta=d) for d in deltas]
    events.append(_event("content_block_stop", index=index))
    return events


def _problem(body: JsonObject, state: MockState, beta: str) -> str | None:
    """Why the real API would refuse this request with a 400, or None."""
    thinking = body.get("thinking")
    thinking = thinking if isinstance(thinking, dict) else {}
    kind = thinking.get("type")
    return (
        _check_config(thinking, beta)
        or _check_budget(body)
        or (
            _check_thinking(body, state, leading=kind != "between_tools")
            if kind in _THINKING_MODES
            else None
        )
    )


async def count_tokens_route(request: Request, state: MockState) -> Response:
    """`POST /v1/messages/count_tokens`: the request checked as `messages` checks it (thinking
    signatures included, as the real endpoint does), and its input tokens."""
    parsed = await read_request(request, _API, state, ("model", "messages"))
    if isinstance(parsed, Response):
        return parsed
    body, controls = parsed
    problem = _problem(body, state, request.headers.get("anthropic-beta", ""))
    if problem:
        return error_response(_API, 400, problem)
    return json_response(_API, {"input_tokens": _input_tokens(body)}, controls)


async def messages(request: Request, state: MockState) -> Response:
    """`POST /v1/messages`."""
    parsed = await read_request(request, _API, state, ("model", "max_tokens", "messages"))
    if isinstance(parsed, Response):
        return parsed
    body, controls = parsed
    beta = request.headers.get("anthropic-beta", "")
    problem = _problem(body, state, beta)
    if problem:
        return error_response(_API, 400, problem)
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    plan = _plan(body, state, interleaved="interleaved-thinking" in beta or kind == "adaptive")
    message: JsonObject = {
        "id": new_id("msg_01")[:30],
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": plan.blocks,
        "stop_reason": plan.stop_reason,
        "stop_sequence": None,
        "usage": _usage(plan.input_tokens, plan.output_tokens),
    }
    if BINDING_BETA in beta:
        message["input_transformations"] = _dropped(body, state)
    if body.get("stream") is not True:
        return json_response(_API, message, controls)
    start = {**message, "content": [], "stop_reason": None, "usage": _usage(plan.input_tokens, 1)}
    events = [_event("message_start", message=start)]
    for index, block in enumerate(plan.blocks):
        events += _stream_block(index, block)
    events.append(
        _event(
            "message_delta",
            delta={"stop_reason": plan.stop_reason, "stop_sequence": None},
            usage={"output_tokens": plan.output_tokens},
        )
    )
    events.append(_event("message_stop"))
    return sse_response(_API, events, controls)
