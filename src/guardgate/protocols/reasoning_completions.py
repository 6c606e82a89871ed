"""Reasoning in legacy OpenAI Completions (`/v1/completions`): inline think tags in `text`.

The legacy API has no reasoning field; open-weight reasoning models served behind it write their
chain of thought into `choices[].text` between `<think>` and `</think>` (or only end it with
`</think>` when the prompt opened the span). Each choice's text goes through a
`ThinkTextFilter`, as Chat content does. Token `logprobs` of a changed choice are dropped, as
they would spell out the hidden text. A stream chunk whose text becomes empty is dropped unless
it carries a finish reason or usage.
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

__all__ = ["CompletionsBodyTransformer", "CompletionsStreamTransformer"]


class CompletionsBodyTransformer(BodyTransformer):
    """A whole `text_completion` object."""

    async def rewrite(self, payload: JsonObject) -> bool:
        """Hide the inline reasoning of every choice's text."""
        changed = False
        for choice in payload.get("choices") or []:
            text = choice.get("text") if isinstance(choice, dict) else None
            if not isinstance(text, str) or not text:
                continue
            # A whole body costs no latency to hold: a bare `</think>` marks reasoning too.
            think = ThinkTextFilter(
                summarise=self._ctx.summarise,
                think_open=True,
                unclosed_is_reasoning=unclosed_is_reasoning(self._ctx, choice),
                max_reasoning=self._ctx.max_reasoning,
            )
            new = await think.feed(text) + await think.finish()
            if think.changed:
                choice["text"] = new
                if choice.get("logprobs"):
                    choice["logprobs"] = None
                changed = True
        return changed


class _Choice:
    __slots__ = ("finished", "think")

    def __init__(self, ctx: TransformContext) -> None:
        # Fail closed, as Chat: text waits until the think span is known closed or absent.
        self.think = ThinkTextFilter(
            summarise=ctx.summarise,
            think_open=True,
            unclosed_is_reasoning=True,
            max_reasoning=ctx.max_reasoning,
        )
        self.finished = False


class CompletionsStreamTransformer(StreamTransformer):
    """A stream of `text_completion` chunks ending in `[DONE]`."""

    reasoning_markers = (b"<think>", b"</think>")

    def __init__(self, ctx: TransformContext) -> None:
        super().__init__(ctx)
        self._choices: dict[int, _Choice] = {}
        self._template: JsonObject = {}
        self._ended = False

    def _state(self, index: object) -> _Choice:
        key = index if isinstance(index, int) else 0
        state = self._choices.get(key)
        if state is None:
            state = self._choices[key] = _Choice(self._ctx)
        return state

    async def on_event(self, frame: SSEFrame, event: SSEEvent) -> bytes:
        """Filter each choice's text; `[DONE]` first releases anything still held."""
        if event.data.strip() == "[DONE]":
            return await self._end() + frame.raw
        chunk = load_json_object(event.data)
        choices = chunk.get("choices") if chunk is not None else None
        if chunk is None or not isinstance(choices, list):
            return await self.on_unexpected(frame)
        self._template = chunk
        kept: list[Any] = []
        changed = False
        for choice in choices:
            if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
                kept.append(choice)
                continue
            state = self._state(choice.get("index"))
            text: str = choice["text"]
            new = await state.think.feed(text) if text else ""
            if choice.get("finish_reason"):
                # Text still waiting for a tag is answer when the model ended it, reasoning
                # when it was cut (`length`): as in Chat.
                cut = unclosed_is_reasoning(self._ctx, {"finish_reason": choice["finish_reason"]})
                new += await state.think.release_undecided(as_reasoning=cut)
                new += await state.think.finish()
                state.finished = True
            if new == text:
                kept.append(choice)
                continue
            changed = True
            choice["text"] = new
            if choice.get("logprobs"):
                choice["logprobs"] = None
            if new or choice.get("finish_reason"):
                kept.append(choice)
        if not changed:
            return frame.raw
        if not kept and not chunk.get("usage"):
            return b""
        chunk["choices"] = kept
        return self.encode(event, chunk)

    async def _end(self) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        out: list[bytes] = []
        base = {k: v for k, v in self._template.items() if k not in ("choices", "usage")}
        for index, state in self._choices.items():
            rest = "" if state.finished else await state.think.finish()
            if rest:
                choice = {"text": rest, "index": index, "logprobs": None, "finish_reason": None}
                out.append(self.encode(SSEEvent(""), {**base, "choices": [choice]}))
        return b"".join(out)

    async def on_end(self) -> bytes:
        """A stream cut before `[DONE]`: still release held answer text."""
        return await self._end()
