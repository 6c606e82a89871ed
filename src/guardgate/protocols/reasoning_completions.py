"""Reasoning in legacy OpenAI Completions (`/v1/completions`): inline think tags in `text`.

The legacy API has no reasoning field; open-weight reasoning models served behind it write their
chain of thought into `choices[].text` between `<think>` and `</think>` (or only end it with
`</think>` when the prompt opened the span). Each choice's text goes through the think-tag piece
shared with Chat (`reasoning_choices`). A stream chunk whose text becomes empty is dropped unless
it carries a finish reason or usage.
"""

from __future__ import annotations

from guardgate.protocols.reasoning_base import BodyTransformer, JsonObject
from guardgate.protocols.reasoning_choices import ChoiceStream, ChoiceText, hide_choice_text

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
            new = await hide_choice_text(self._ctx, choice, text)
            if new is not None:
                choice["text"] = new
                changed = True
        return changed


class CompletionsStreamTransformer(ChoiceStream[ChoiceText]):
    """A stream of `text_completion` chunks ending in `[DONE]`."""

    reasoning_markers = (b"<think>", b"</think>")

    def new_state(self) -> ChoiceText:
        """A choice's text state."""
        return ChoiceText(self._ctx)

    async def on_choice(self, chunk: JsonObject, choice: JsonObject) -> tuple[bool, bool, bytes]:
        """Filter the choice's text; its finish chunk releases what is still held."""
        text = choice.get("text")
        if not isinstance(text, str):
            return True, False, b""
        state = self.state(choice.get("index"))
        new = await state.think.feed(text) if text else ""
        if choice.get("finish_reason"):
            new += await state.finish(choice["finish_reason"], lost=self.lost)
        if new == text:
            return True, False, b""
        choice["text"] = new
        if choice.get("logprobs"):
            choice["logprobs"] = None
        return bool(new or choice.get("finish_reason")), True, b""

    async def end_choice(self, index: int, state: ChoiceText) -> bytes:
        """The text still held, as a chunk of its own."""
        rest = await state.rest()
        if not rest:
            return b""
        return self.synthetic(
            {"text": rest, "index": index, "logprobs": None, "finish_reason": None}
        )
