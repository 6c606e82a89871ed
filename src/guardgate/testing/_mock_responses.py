"""The mock's OpenAI Responses API (`POST /v1/responses`), stream and non-stream.

Reasoning models (any name not starting with `gpt-4` / `gpt-3`) answer with a reasoning item
(summary, reasoning text, and `encrypted_content` when the request includes
`reasoning.encrypted_content`) before the message or function call. A reasoning item sent back in
`input` must carry `encrypted_content` this mock produced, or the request fails with 400 as the
real API fails on content it cannot decrypt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

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
    mock_summary_text,
    mock_tool_arguments,
    pieces,
)

_API = ApiKind.OPENAI_RESPONSES
ENCRYPTED_KIND = "openai.responses.reasoning"


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the mock will answer to one Responses request."""

    prompt: str
    reasoning: str
    summary: str
    encrypted: str | None
    answer: str
    call: tuple[str, str, str, str] | None  # item id, call id, name, arguments
    input_tokens: int

    @property
    def usage(self) -> JsonObject:
        reasoning_tokens = count_tokens(self.reasoning)
        output = reasoning_tokens + count_tokens(self.call[3] if self.call else self.answer)
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": self.input_tokens + output,
        }


def _items(body: JsonObject) -> list[JsonObject]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []


def _is_user_message(item: JsonObject) -> bool:
    return item.get("role") == "user" and item.get("type", "message") == "message"


def _function_tool(tools: object) -> str | None:
    if isinstance(tools, list):
        for tool in tools:
            if isinstance(tool, dict) and tool.get("type") == "function":
                return str(tool.get("name"))
    return None


def _include_encrypted(body: JsonObject) -> bool:
    include = body.get("include")
    return isinstance(include, list) and "reasoning.encrypted_content" in include


def _plan(body: JsonObject, state: MockState) -> _Plan:
    items = _items(body)
    prompt = next(
        (content_text(i.get("content")) for i in reversed(items) if _is_user_message(i)), ""
    )
    model = str(body.get("model", ""))
    reasons = not model.startswith(("gpt-4", "gpt-3"))
    reasoning = mock_reasoning_text(prompt) if reasons else ""
    tool = _function_tool(body.get("tools"))
    call = None
    if tool and items and _is_user_message(items[-1]):
        call = (new_id("fc_"), new_id("call_")[:29], tool, mock_tool_arguments(prompt))
    encrypted = (
        state.signer.sign(ENCRYPTED_KIND, reasoning)
        if reasons and _include_encrypted(body)
        else None
    )
    input_text = str(body.get("instructions") or "") + "".join(
        content_text(i.get("content")) + str(i.get("output", "")) for i in items
    )
    return _Plan(
        prompt=prompt,
        reasoning=reasoning,
        summary=mock_summary_text(prompt) if reasons else "",
        encrypted=encrypted,
        answer="" if call else mock_answer_text(prompt),
        call=call,
        input_tokens=count_tokens(input_text) + 4 * len(items),
    )


def _reject_foreign_reasoning(body: JsonObject, state: MockState) -> Response | None:
    for item in _items(body):
        if item.get("type") != "reasoning":
            continue
        encrypted = item.get("encrypted_content")
        if encrypted is not None and not state.signer.verify(ENCRYPTED_KIND, encrypted):
            return error_response(
                _API, 400, f"The encrypted content for item {item.get('id')} could not be verified."
            )
    return None


def _reasoning_item(item_id: str, plan: _Plan) -> JsonObject:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": plan.summary}],
        "content": [{"type": "reasoning_text", "text": plan.reasoning}],
        "encrypted_content": plan.encrypted,
    }


def _output_text(text: str) -> JsonObject:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message_item(item_id: str, text: str, status: str = "completed") -> JsonObject:
    content = [_output_text(text)] if status == "completed" else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _call_item(plan_call: tuple[str, str, str, str], arguments: str, status: str) -> JsonObject:
    item_id, call_id, name, _ = plan_call
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def _response(
    body: JsonObject, response_id: str, created: int, output: list[JsonObject], usage: object
) -> JsonObject:
    done = usage is not None
    tools = body.get("tools")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "background": False,
        "completed_at": int(time.time()) if done else None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": tools if isinstance(tools, list) else [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


class _EventWriter:
    """Responses stream events, numbered by `sequence_number` from 0."""

    def __init__(self) -> None:
        self.events: list[bytes] = []

    def emit(self, event_type: str, **fields: object) -> None:
        payload = {"type": event_type, "sequence_number": len(self.events), **fields}
        self.events.append(sse_event(payload, event=event_type))


def _stream_part(
    out: _EventWriter,
    at: JsonObject,
    events: tuple[str, str],
    position: JsonObject,
    part: JsonObject,
    text: str,
    **extra: object,
) -> None:
    """One text part of an output item: the `part` added (its text empty), the text's deltas
    and whole text, the part done (its text full). `events` names the part's and the text's
    events, `position` where the part sits in the item (`summary_index` or `content_index`)."""
    part_event, text_event = events
    out.emit(f"{part_event}.added", **at, **position, part=part)
    for piece in pieces(text):
        out.emit(f"{text_event}.delta", **at, **position, delta=piece, **extra)
    out.emit(f"{text_event}.done", **at, **position, text=text, **extra)
    out.emit(f"{part_event}.done", **at, **position, part={**part, "text": text})


def _stream_reasoning(out: _EventWriter, index: int, item_id: str, plan: _Plan) -> None:
    at: JsonObject = {"item_id": item_id, "output_index": index}
    out.emit(
        "response.output_item.added",
        output_index=index,
        item={"id": item_id, "type": "reasoning", "summary": [], "encrypted_content": None},
    )
    events = ("response.reasoning_summary_part", "response.reasoning_summary_text")
    part: JsonObject = {"type": "summary_text", "text": ""}
    _stream_part(out, at, events, {"summary_index": 0}, part, plan.summary)
    events = ("response.content_part", "response.reasoning_text")
    part = {"type": "reasoning_text", "text": ""}
    _stream_part(out, at, events, {"content_index": 0}, part, plan.reasoning)
    out.emit("response.output_item.done", output_index=index, item=_reasoning_item(item_id, plan))


def _stream_message(out: _EventWriter, index: int, item_id: str, text: str) -> None:
    at: JsonObject = {"item_id": item_id, "output_index": index}
    out.emit(
        "response.output_item.added",
        output_index=index,
        item=_message_item(item_id, "", "in_progress"),
    )
    events = ("response.content_part", "response.output_text")
    _stream_part(out, at, events, {"content_index": 0}, _output_text(""), text, logprobs=[])
    out.emit("response.output_item.done", output_index=index, item=_message_item(item_id, text))


def _stream_call(out: _EventWriter, index: int, call: tuple[str, str, str, str]) -> None:
    at = {"item_id": call[0], "output_index": index}
    arguments = call[3]
    item = _call_item(call, "", "in_progress")
    out.emit("response.output_item.added", output_index=index, item=item)
    for piece in pieces(arguments, words=2):
        out.emit("response.function_call_arguments.delta", **at, delta=piece)
    out.emit("response.function_call_arguments.done", **at, arguments=arguments)
    item = _call_item(call, arguments, "completed")
    out.emit("response.output_item.done", output_index=index, item=item)


async def responses(request: Request, state: MockState) -> Response:
    """`POST /v1/responses`."""
    parsed = await read_request(request, _API, state, ("model",))
    if isinstance(parsed, Response):
        return parsed
    body, controls = parsed
    rejected = _reject_foreign_reasoning(body, state)
    if rejected is not None:
        return rejected
    plan = _plan(body, state)
    if controls.reasoning_repeat > 1 and plan.reasoning:
        plan = replace(plan, reasoning=" ".join([plan.reasoning] * controls.reasoning_repeat))
    response_id, created = new_id("resp_"), int(time.time())
    reasoning_id, message_id = new_id("rs_"), new_id("msg_")
    output: list[JsonObject] = [_reasoning_item(reasoning_id, plan)] if plan.reasoning else []
    if plan.call:
        output.append(_call_item(plan.call, plan.call[3], "completed"))
    else:
        output.append(_message_item(message_id, plan.answer))
    if body.get("stream") is not True:
        final = _response(body, response_id, created, output, plan.usage)
        return json_response(_API, final, controls)

    out = _EventWriter()
    initial = _response(body, response_id, created, [], None)
    out.emit("response.created", response=initial)
    out.emit("response.in_progress", response=initial)
    index = 0
    if plan.reasoning:
        _stream_reasoning(out, index, reasoning_id, plan)
        index += 1
    if plan.call:
        _stream_call(out, index, plan.call)
    else:
        _stream_message(out, index, message_id, plan.answer)
    final = _response(body, response_id, created, output, plan.usage)
    out.emit("response.completed", response=final)
    return sse_response(_API, out.events, controls)
