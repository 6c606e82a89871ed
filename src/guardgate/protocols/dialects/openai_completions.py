"""Legacy OpenAI Completions (`/v1/completions`): a `prompt` in, `choices[].text` out.

The API has no reasoning field and no switch for reasoning output: open-weight models served
behind it write their chain of thought inline in the text between think tags, which the
transform hides. Nothing is sealed, so nothing comes back to restore.
"""

from __future__ import annotations

from typing import Any, ClassVar

from guardgate.model import ApiKind
from guardgate.protocols.dialects._base import Conversation, Dialect, text_of
from guardgate.protocols.reasoning_base import BodyTransformer, StreamTransformer
from guardgate.protocols.reasoning_completions import (
    CompletionsBodyTransformer,
    CompletionsStreamTransformer,
)

__all__ = ["OpenAICompletions"]


class OpenAICompletions(Dialect):
    """Legacy OpenAI Completions."""

    __slots__ = ()

    api: ClassVar[ApiKind] = ApiKind.OPENAI_COMPLETIONS
    path: ClassVar[str] = "/v1/completions"
    prompt_fields: ClassVar[tuple[str, ...]] = ("prompt", "suffix")
    body_transformer: ClassVar[type[BodyTransformer]] = CompletionsBodyTransformer
    stream_transformer: ClassVar[type[StreamTransformer]] = CompletionsStreamTransformer

    def conversation(self, body: dict[str, Any]) -> Conversation:
        """No turns and no system prompt: the prompt is the text."""
        raw = body.get("prompt")
        return "", raw if isinstance(raw, str) else text_of(raw), []
