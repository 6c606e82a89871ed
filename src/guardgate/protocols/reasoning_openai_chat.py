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

from guardgate.protocols.reasoning_base import BodyTransformer, JsonObject, TransformContext
from guardgate.protocols.reasoning_choices import ChoiceStream, ChoiceText, hide_choice_text

__all__ = [
    "REASONING_FIELDS",
    "SEALED_CHAT_REASONING",
    "ChatBodyTransformer",
    "ChatStreamTransformer",
    "hidden_reasoning",
]

SEALED_CHAT_REASONING = "chat_reasoning"
"""The `type` of a sealed Chat reasoning trace: `{"type": "chat_reasoning", "text": ...}`."""

REASONING_FIELDS = ("reasoning_content", "reasoning")
"""The fields that carry a message's reasoning text, in the order they are read."""
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
        for name in REASONING_FIELDS:
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
            plain = REASONING_FIELDS[1]
            if not changed and self.field in (None, plain) and isinstance(details, list):
                # Only details, no plain field: their text is the trace (else it duplicates it).
                self.field = plain
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
                new = await hide_choice_text(self._ctx, choice, content)
                if new is not None:
                    message["content"] = new
                    changed = True
        return changed


class _ChoiceState(ChoiceText):
    __slots__ = ("fields",)

    def __init__(self, ctx: TransformContext) -> None:
        super().__init__(ctx)
        self.fields = _ReasoningFields(ctx)


class ChatStreamTransformer(ChoiceStream[_ChoiceState]):
    """A stream of `chat.completion.chunk` events ending in `[DONE]`."""

    reasoning_markers = (b'"reasoning', b"<think>", b"</think>")

    def new_state(self) -> _ChoiceState:
        """A choice's reasoning fields and text state."""
        return _ChoiceState(self._ctx)

    async def on_choice(self, chunk: JsonObject, choice: JsonObject) -> tuple[bool, bool, bytes]:
        """Take the delta's reasoning fields, filter its content; a summary goes just before
        the first chunk of answer, tool call or finish reason."""
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return True, False, b""
        state = self.state(choice.get("index", 0))
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
        if finishing:
            released = await state.finish(choice["finish_reason"], lost=self.lost)
        elif delta.get("tool_calls"):
            # A tool call begins: text still waiting for a first tag is answer, unless the
            # stream lost an event (a `</think>` among them).
            released = await state.think.release_undecided(as_reasoning=self.lost)
        else:
            released = ""
        if released:
            new = (new or "") + released
            changed = True
        if new is not None and changed:
            delta["content"] = new
            if choice.get("logprobs"):
                choice["logprobs"] = None
        ahead = b""
        if new or delta.get("tool_calls") or finishing:
            summary = await self._pending_summary(state)
            if summary:
                ahead = self._delta(choice["index"], summary)
        keep = not changed or self._carries_something(choice)
        return keep, changed, ahead

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

    def _delta(self, index: int, delta: dict[str, str]) -> bytes:
        return self.synthetic(
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
        )

    async def end_choice(self, index: int, state: _ChoiceState) -> bytes:
        """A summary not sent yet, then the answer text still held."""
        out = b""
        summary = await self._pending_summary(state)
        if summary:
            out += self._delta(index, summary)
        rest = await state.rest()
        if rest:
            out += self._delta(index, {"content": rest})
        return out
