"""Inline think tags in OpenAI `choices`, one piece for Chat Completions and legacy Completions.

Both APIs carry answer text per choice (Chat in `message.content` / `delta.content`, Completions
in `text`), and open-weight models served without a reasoning parser write their chain of thought
into it between `<think>` and `</think>`. This module holds what both do with it:

- `hide_choice_text`: a whole answer's choice text through a `ThinkTextFilter`;
- `ChoiceText`: one choice's state in a stream. It fails closed: whatever the model, text waits
  until the think span is known closed or absent (an unlisted model, or a request without `model`
  served by the server's default, may open `<think>` in its template). Only flagged accounts pay;
- `ChoiceStream`: the stream of chunks ending in `[DONE]`: choices filtered apart, a chunk whose
  choices all became empty dropped, and what is still held released at `[DONE]` or at a cut.

A choice's token `logprobs` go when its text changes: they would spell out the hidden text.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from guardgate.protocols.reasoning_base import (
    JsonObject,
    StreamTransformer,
    TransformContext,
    load_json_object,
)
from guardgate.protocols.reasoning_think_tags import (
    FINISHED,
    ThinkTextFilter,
    unclosed_is_reasoning,
)
from guardgate.protocols.sse import SSEEvent, SSEFrame

__all__ = ["ChoiceStream", "ChoiceText", "hide_choice_text"]


async def hide_choice_text(ctx: TransformContext, choice: JsonObject, text: str) -> str | None:
    """The text of a whole answer's `choice` with its inline reasoning hidden, or None when it
    holds none (the choice's logprobs are then left alone, else dropped)."""
    # A whole body costs no latency to hold: a `</think>` without an opening tag marks
    # reasoning even when the prompt was not known to open one.
    think = ThinkTextFilter(
        summarise=ctx.summarise,
        think_open=True,
        unclosed_is_reasoning=unclosed_is_reasoning(ctx, choice),
        max_reasoning=ctx.max_reasoning,
    )
    new = await think.feed(text) + await think.finish()
    if not think.changed:
        return None
    if choice.get("logprobs"):
        choice["logprobs"] = None
    return new


class ChoiceText:
    """One choice's answer text in a stream."""

    __slots__ = ("finished", "think")

    def __init__(self, ctx: TransformContext) -> None:
        self.think = ThinkTextFilter(
            summarise=ctx.summarise,
            think_open=True,
            unclosed_is_reasoning=True,
            max_reasoning=ctx.max_reasoning,
        )
        self.finished = False

    async def finish(self, finish_reason: object, *, lost: bool) -> str:
        """The choice's finish chunk: text still waiting for a first tag is answer when the
        model ended it itself, reasoning when it was cut (by `max_tokens`, a filter) or when the
        stream `lost` an event (a `</think>` may have been in it), as at the end of a stream
        that broke off."""
        cut = lost or finish_reason not in FINISHED
        out = await self.think.release_undecided(as_reasoning=cut)
        out += await self.think.finish()
        self.finished = True
        return out

    async def rest(self) -> str:
        """What is still held when the stream ends without the choice's finish chunk."""
        return "" if self.finished else await self.think.finish()


State = TypeVar("State", bound=ChoiceText)


class ChoiceStream(StreamTransformer, Generic[State]):
    """A stream of chunks with `choices`, ending in `[DONE]`.

    Subclasses say how one choice is transformed (`on_choice`), how a fresh choice state is made
    (`new_state`) and what a choice still holds at the end (`end_choice`).
    """

    def __init__(self, ctx: TransformContext) -> None:
        super().__init__(ctx)
        self._choices: dict[int, State] = {}
        self._template: JsonObject = {}
        self._ended = False
        self.lost = False
        """An event could not be read: a tag in it is lost to the choices' splitters."""

    def new_state(self) -> State:
        """A fresh state for a choice seen for the first time."""
        raise NotImplementedError

    async def on_choice(self, chunk: JsonObject, choice: JsonObject) -> tuple[bool, bool, bytes]:
        """Transform one choice: (keep it in its chunk?, changed?, bytes to send before the
        chunk). A choice this transform does not read is returned kept and unchanged."""
        raise NotImplementedError

    async def end_choice(self, index: int, state: State) -> bytes:
        """Events for what a choice still holds at the end of the stream."""
        raise NotImplementedError

    def state(self, index: object) -> State:
        """The state of the choice at `index` (0 when the index is not a number)."""
        key = index if isinstance(index, int) else 0
        state = self._choices.get(key)
        if state is None:
            state = self._choices[key] = self.new_state()
        return state

    async def on_event(self, frame: SSEFrame, event: SSEEvent) -> bytes:
        """Transform one chunk; `[DONE]` first releases anything still held."""
        if event.data.strip() == "[DONE]":
            return await self._end() + frame.raw
        chunk = load_json_object(event.data)
        choices = chunk.get("choices") if chunk is not None else None
        if chunk is None or not isinstance(choices, list):
            self.lost = self.lost or chunk is None
            return await self.on_unexpected(frame)
        self._template = chunk
        before: list[bytes] = []
        kept: list[Any] = []
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                kept.append(choice)
                continue
            keep, choice_changed, ahead = await self.on_choice(chunk, choice)
            changed = changed or choice_changed
            if ahead:
                before.append(ahead)
            if keep:
                kept.append(choice)
        if not changed:
            return b"".join(before) + frame.raw if before else frame.raw
        if not kept and not chunk.get("usage"):
            return b"".join(before)
        chunk["choices"] = kept
        return b"".join(before) + self.encode(event, chunk)

    def synthetic(self, choice: JsonObject) -> bytes:
        """A chunk of its own for `choice`, built like the stream's last chunk."""
        chunk = {k: v for k, v in self._template.items() if k not in ("choices", "usage")}
        chunk["choices"] = [choice]
        return self.encode(SSEEvent(""), chunk)

    async def _end(self) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        out = [await self.end_choice(index, state) for index, state in self._choices.items()]
        return b"".join(out)

    async def on_end(self) -> bytes:
        """A stream cut before `[DONE]`: still release held answer text."""
        return await self._end()
