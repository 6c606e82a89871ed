"""Fuzz support: valid upstream answers in every wire format (taken from the mock upstream), and
what a client's SDK makes of an answer (its own stream accumulators), so that "valid in, valid out"
can be checked on whatever a transform produced.

The corpus is built once per process, in-process (buffering is fine: only the bytes are kept).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message
from hypothesis import settings
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from guardgate.model import ApiKind
from guardgate.protocols.sse import SSEDecoder
from guardgate.testing import create_mock_upstream, mock_reasoning_text

settings.register_profile(
    "fuzz",
    deadline=None,
    max_examples=int(os.environ.get("GUARDGATE_FUZZ_EXAMPLES", "60")),
    # CI runs the same examples every time (a red CI is then reproducible); runs elsewhere explore.
    derandomize=os.environ.get("CI") == "true",
)
FUZZ = settings.get_profile("fuzz")
"""Examples per property: 60 in CI; `GUARDGATE_FUZZ_EXAMPLES=5000` for a long run."""

PROMPTS = ("Explain step by step how to compute 17 times 23.", "Weather in Paris? Use the tool.")
TOOLS_CHAT = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
TOOLS_RESPONSES = [{"type": "function", "name": "get_weather", "parameters": {}}]
TOOLS_ANTHROPIC = [{"name": "get_weather", "input_schema": {"type": "object"}}]
_THINK = re.compile(r"(?s)^.*</think>")


@dataclass(frozen=True, repr=False)
class Sample:
    """One upstream answer as the sidecar would receive it."""

    name: str
    api: ApiKind
    streaming: bool
    body: bytes
    prompt: str
    think_open: bool = False

    def __repr__(self) -> str:
        return f"Sample({self.name!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # hypothesis pretty-prints dataclasses field by field; a 30 kB body helps nobody.
        printer.text(repr(self))

    def reasoning_sentences(self) -> list[str]:
        """Sentences of the mock's reasoning trace (long enough not to occur by chance)."""
        out: list[str] = []
        for choice in range(2):
            text = mock_reasoning_text(self.prompt, choice)
            out += [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 24]
        return out


def _requests() -> list[tuple[str, ApiKind, str, dict[str, Any], bool]]:
    out: list[tuple[str, ApiKind, str, dict[str, Any], bool]] = []
    for prompt in PROMPTS:
        tools = "tool" in prompt
        for model in ("mock-reasoning-content", "mock-reasoning", "mock-think", "mock-think-open"):
            body: dict[str, Any] = {
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "n": 2,
                "stream_options": {"include_usage": True},
            }
            if tools:
                body["tools"] = TOOLS_CHAT
            out.append((model, ApiKind.OPENAI_CHAT, "/v1/chat/completions", body, "open" in model))
        out.append(
            (
                "completions",
                ApiKind.OPENAI_COMPLETIONS,
                "/v1/completions",
                {"model": "mock-think", "prompt": prompt},
                False,
            )
        )
        responses: dict[str, Any] = {"model": "o4-mini", "input": prompt}
        if tools:
            responses["tools"] = TOOLS_RESPONSES
        out.append(("responses", ApiKind.OPENAI_RESPONSES, "/v1/responses", responses, False))
        messages: dict[str, Any] = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": prompt}],
        }
        if tools:
            messages["tools"] = TOOLS_ANTHROPIC
        out.append(("messages", ApiKind.ANTHROPIC_MESSAGES, "/v1/messages", messages, False))
    return out


async def _fetch_all() -> list[Sample]:
    transport = httpx.ASGITransport(app=create_mock_upstream(b"fuzz-upstream"))
    samples: list[Sample] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        for name, api, path, body, think_open in _requests():
            prompt = PROMPTS[0] if PROMPTS[0] in json.dumps(body) else PROMPTS[1]
            for streaming in (True, False):
                r = await client.post(path, json={**body, "stream": streaming})
                assert r.status_code == 200, r.text
                label = f"{name}/{'stream' if streaming else 'json'}/{prompt[:7]}"
                samples.append(Sample(label, api, streaming, r.content, prompt, think_open))
    return samples


@cache
def corpus() -> tuple[Sample, ...]:
    """Every sample (built on first use; call from synchronous code)."""
    return tuple(asyncio.run(_fetch_all()))


def sse_data(body: bytes) -> list[Any]:
    """The parsed data of every event; raises if one is neither JSON nor `[DONE]`."""
    decoder = SSEDecoder()
    out = []
    for event in decoder.decode(body) + decoder.flush():
        out.append(event.data if event.data == "[DONE]" else json.loads(event.data))
    return out


def _answer(text: str | None) -> str:
    return _THINK.sub("", text or "").strip()


def outcome(api: ApiKind, streaming: bool, body: bytes) -> Any:
    """What a client's SDK builds from `body`, minus reasoning: answers, tool calls, stop
    reasons and usage. Raises when the SDK cannot build it."""
    if api is ApiKind.OPENAI_CHAT:
        if streaming:
            state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
            for data in sse_data(body):
                if data != "[DONE]":
                    state.handle_chunk(ChatCompletionChunk.model_validate(data))
            chat = state.get_final_completion()
        else:
            chat = ChatCompletion.model_validate_json(body)
        return [
            (
                c.index,
                _answer(c.message.content),
                [(t.function.name, t.function.arguments) for t in c.message.tool_calls or []],  # type: ignore[union-attr]
                c.finish_reason,
            )
            for c in chat.choices
        ] + [chat.usage.completion_tokens if chat.usage else None]
    if api is ApiKind.OPENAI_COMPLETIONS:
        chunks = [d for d in sse_data(body) if d != "[DONE]"] if streaming else [json.loads(body)]
        texts: dict[int, str] = {}
        for data in chunks:
            completion = construct_type(type_=Completion, value=data)
            assert isinstance(completion, Completion)
            for choice in completion.choices:
                texts[choice.index] = texts.get(choice.index, "") + choice.text
        return {i: _answer(t) for i, t in texts.items()}
    if api is ApiKind.OPENAI_RESPONSES:
        if streaming:
            rstate: ResponseStreamState[Any] = ResponseStreamState(
                input_tools=omit,  # type: ignore[arg-type]
                text_format=omit,  # type: ignore[arg-type]
            )
            for data in sse_data(body):
                rstate.handle_event(construct_type(type_=ResponseStreamEvent, value=data))  # type: ignore[arg-type]
            response = rstate._completed_response
            assert response is not None
        else:
            response = Response.model_validate_json(body)
        return (
            response.output_text,
            [(o.name, o.arguments) for o in response.output if o.type == "function_call"],
            response.status,
            response.usage.output_tokens if response.usage else None,
        )
    if streaming:
        snapshot = None
        json_bufs: dict[int, bytes] = {}
        for data in sse_data(body):
            snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=json_bufs)
        assert snapshot is not None
        message: Message = snapshot
    else:
        message = Message.model_validate_json(body)
    return (
        [b.text for b in message.content if b.type == "text"],
        [(b.name, b.input) for b in message.content if b.type == "tool_use"],
        message.stop_reason,
        message.usage.output_tokens,
    )
