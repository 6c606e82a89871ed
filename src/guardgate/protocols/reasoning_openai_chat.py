"""Reasoning in OpenAI Chat Completions and OpenAI-compatible servers (vLLM, SGLang, DeepSeek).

Reasoning arrives in three ways: the `reasoning_content` field (DeepSeek, vLLM, SGLang), the
`reasoning` / `reasoning_details` fields (vLLM >= 0.10, OpenRouter), or inline `<think>` tags in
`content` (servers without a reasoning parser). All three are handled in messages and stream
deltas.

By default, reasoning fields are stripped, not sealed: the OpenAI API has no such field, and most
servers that return one neither need nor want it back (DeepSeek's own docs tell clients to drop
`reasoning_content` from earlier turns; vLLM and SGLang ignore it). Providers that do require it
back in tool loops (DeepSeek thinking mode with tools, some OpenRouter models) are served with
`seal_chat_reasoning`: the field then carries a sealed token (after the summary under
summarise) that the Chat dialect's `restore_sealed` opens on the next request.

Streams: a chunk whose delta becomes empty is dropped unless it carries a role, a finish reason,
usage, tool calls or content; a summary is sent as a chunk of its own, in the same field the
reasoning came in, just before the first chunk of answer, tool call or finish reason.
"""

from __future__ import annotations

from typing import Any

from guardgate.protocols.reasoning_base import (
    BodyTransformer,
    JsonObject,
    StreamTransformer,
    TransformContext,
    load_json_object,
)
from guardgate.protocols.reasoning_think_tags import ThinkTextFilter, unclosed_is_reasoning
from guardgate.protocols.sse import SSEEvent, SSEFrame

__all__ = [
    "SEALED_CHAT_REASONING",
    "ChatBodyTransformer",
    "ChatStreamTransformer",
    "hidden_reasoning",
]

SEALED_CHAT_REASONING = "chat_reasoning"
"""The `type` of a sealed Chat reasoning trace: `{"type": "chat_reasoning", "text": ...}`."""

_TEXT_FIELDS = ("reasoning_content", "reasoning")
_DETAIL_FIELD = "reasoning_details"


class _ReasoningFields:
    """Removes reasoning fields from a message or delta, collecting their text (only when a
    summary or a seal needs it, and at most `limit` characters: the rest is dropped unread)."""

    def __init__(self, ctx: TransformContext | None = None) -> None:
        self.text: list[str] = []
        self._room = (
            ctx.max_reasoning
            if ctx is not None and (ctx.summarise is not None or ctx.seal_chat_reasoning)
            else 0
        )
        self.field: str | None = None
        """Name of the field the reasoning came in (the summary goes back into it)."""

    def take(self, message: JsonObject) -> bool:
        """Remove non-empty reasoning fields from `message`; return whether any was there."""
        changed = False
        for name in _TEXT_FIELDS:
            value = message.get(name)
            if not value:
                continue
            del message[name]
            changed = True
            self.field = self.field or name
            # vLLM sends the same text in both `reasoning` and `reasoning_content`.
            if name == self.field and isinstance(value, str):
                self._keep(value)
        details = message.get(_DETAIL_FIELD)
        if details:
            del message[_DETAIL_FIELD]
            if not changed and self.field in (None, _TEXT_FIELDS[1]) and isinstance(details, list):
                # Only details, no plain field: their text is the trace (else it duplicates it).
                self.field = _TEXT_FIELDS[1]
                texts = (d.get("text") or d.get("summary") for d in details if isinstance(d, dict))
                for text in texts:
                    if isinstance(text, str):
                        self._keep(text)
            changed = True
        return changed

    def _keep(self, text: str) -> None:
        if self._room > 0:
            kept = text[: self._room]
            self.text.append(kept)
            self._room -= len(kept)

    def pop_trace(self) -> str:
        """The collected reasoning, emptied."""
        trace = "".join(self.text).strip()
        self.text.clear()
        return trace


async def hidden_reasoning(trace: str, ctx: TransformContext) -> str:
    """What the client gets in a reasoning field in place of `trace` (maybe nothing)."""
    summary = await ctx.summarise(trace) if ctx.summarise is not None else ""
    if not ctx.seal_chat_reasoning:
        return summary
    token = ctx.seal_json({"type": SEALED_CHAT_REASONING, "text": trace})
    return f"{summary}\n\n{token}" if summary else token


class ChatBodyTransformer(BodyTransformer):
    """A whole `chat.completion` object."""

    async def rewrite(self, payload: JsonObject) -> bool:
        """Hide the reasoning of every choice's message."""
        changed = False
        for choice in payload.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            fields = _ReasoningFields(self._ctx)
            if fields.take(message):
                changed = True
                trace = fields.pop_trace()
                if trace and fields.field is not None:
                    hidden = await hidden_reasoning(trace, self._ctx)
                    if hidden:
                        message[fields.field] = hidden
            content = message.get("content")
            if isinstance(content, str) and content:
                # A whole body costs no latency to hold: a `</think>` without an opening tag
                # marks reasoning even when the prompt was not known to open one.
                think = ThinkTextFilter(
                    summarise=self._ctx.summarise,
                    think_open=True,
                    unclosed_is_reasoning=unclosed_is_reasoning(self._ctx, choice),
                    max_reasoning=self._ctx.max_reasoning,
                )
                new = await think.feed(content) + await think.finish()
                if think.changed:
                    message["content"] = new
                    if choice.get("logprobs"):
                        # Token logprobs would spell out the hidden reasoning.
                        choice["logprobs"] = None
                    changed = True
        return changed


class _ChoiceState:
    __slots__ = ("fields", "finished", "think")

    def __init__(self, ctx: TransformContext) -> None:
        self.fields = _ReasoningFields(ctx)
        # Fail closed: whatever the model, answer text waits until the think span is known
        # closed or absent (an unlisted model, or a request without `model` served by the
        # server's default, may open `<think>` in its template). Only flagged accounts pay.
        self.think = ThinkTextFilter(
            summarise=ctx.summarise,
            think_open=True,
            unclosed_is_reasoning=True,
            max_reasoning=ctx.max_reasoning,
        )
        self.finished = False


class ChatStreamTransformer(StreamTransformer):
    """A stream of `chat.completion.chunk` events ending in `[DONE]`."""

    reasoning_markers = (b'"reasoning', b"<think>", b"</think>")

    def __init__(self, ctx: TransformContext) -> None:
        super().__init__(ctx)
        self._choices: dict[int, _ChoiceState] = {}
        self._template: JsonObject | None = None
        self._ended = False
        self._corrupt = False
        """An event could not be read: a tag in it is lost to the choices' splitters."""

    def _state(self, index: int) -> _ChoiceState:
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _ChoiceState(self._ctx)
        return state

    async def on_event(self, frame: SSEFrame, event: SSEEvent) -> bytes:
        """Transform one chunk; `[DONE]` first releases anything still held."""
        if event.data.strip() == "[DONE]":
            return await self._end() + frame.raw
        chunk = load_json_object(event.data)
        choices = chunk.get("choices") if chunk is not None else None
        if chunk is None or not isinstance(choices, list):
            self._corrupt = self._corrupt or chunk is None
            return await self.on_unexpected(frame)
        self._template = chunk
        before: list[bytes] = []
        kept: list[Any] = []
        changed = False
        for choice in choices:
            if not isinstance(choice, dict) or not isinstance(choice.get("delta"), dict):
                kept.append(choice)
                continue
            keep, choice_changed, summary = await self._choice(choice)
            changed = changed or choice_changed
            if summary:
                before.append(self._synthetic(chunk, choice["index"], summary))
            if keep:
                kept.append(choice)
        if not changed:
            return b"".join(before) + frame.raw
        if not kept and choices and not chunk.get("usage"):
            return b"".join(before)
        chunk["choices"] = kept
        return b"".join(before) + self.encode(event, chunk)

    async def _choice(self, choice: JsonObject) -> tuple[bool, bool, dict[str, str] | None]:
        """(keep the choice?, changed?, summary delta to send before it)."""
        index = choice.get("index", 0)
        state = self._state(index if isinstance(index, int) else 0)
        delta: JsonObject = choice["delta"]
        changed = state.fields.take(delta)
        finishing = bool(choice.get("finish_reason"))
        content = delta.get("content")
        if isinstance(content, str) and content:
            # The server splits reasoning into its own field: the content is all answer (known
            # before the content is fed, so a long one is not held up to the cut-off).
            known = state.fields.field is not None
            new = await state.think.release_undecided() if known and state.think.undecided else ""
            new += await state.think.feed(content)
            if state.fields.field is not None and state.think.undecided:
                new += await state.think.release_undecided()
            if state.think.changed or new != content:
                changed = True
        else:
            new = None
        if finishing or delta.get("tool_calls"):
            # Text still waiting for a first tag is answer, unless the answer was cut by
            # max_tokens mid-thought or the stream lost events (a `</think>` among them): then
            # it is reasoning, as at the end of a stream that broke off.
            cut = choice.get("finish_reason") == "length"
            released = await state.think.release_undecided(as_reasoning=cut or self._corrupt)
            if finishing:
                released += await state.think.finish()
                state.finished = True
            if released:
                new = (new or "") + released
                changed = True
        if new is not None and changed:
            delta["content"] = new
            if choice.get("logprobs"):
                choice["logprobs"] = None
        summary = None
        answer_started = bool(new) or bool(delta.get("tool_calls")) or finishing
        if answer_started:
            summary = await self._pending_summary(state)
        keep = not changed or self._carries_something(choice)
        return keep, changed, summary

    async def _pending_summary(self, state: _ChoiceState) -> dict[str, str] | None:
        trace = state.fields.pop_trace()
        if not trace or state.fields.field is None:
            return None
        hidden = await hidden_reasoning(trace, self._ctx)
        return {state.fields.field: hidden} if hidden else None

    @staticmethod
    def _carries_something(choice: JsonObject) -> bool:
        if choice.get("finish_reason"):
            return True
        delta = choice["delta"]
        return any(
            delta.get(key) for key in ("role", "content", "tool_calls", "function_call")
        ) or any(
            value not in (None, "", [], {}) for key, value in delta.items() if key != "content"
        )

    def _synthetic(self, template: JsonObject, index: int, delta: dict[str, str]) -> bytes:
        chunk = {key: value for key, value in template.items() if key not in ("choices", "usage")}
        chunk["choices"] = [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
        ]
        return self.encode(SSEEvent(""), chunk)

    async def _end(self) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        out: list[bytes] = []
        for index, state in self._choices.items():
            summary = await self._pending_summary(state)
            if summary:
                out.append(self._synthetic(self._template or {}, index, summary))
            if not state.finished:
                rest = await state.think.finish()
                if rest:
                    out.append(self._synthetic(self._template or {}, index, {"content": rest}))
        return b"".join(out)

    async def on_end(self) -> bytes:
        """A stream cut before `[DONE]`: still release held answer text."""
        return await self._end()
