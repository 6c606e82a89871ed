"""OpenAI Chat Completions (`/v1/chat/completions`), and the OpenAI-compatible servers that speak
it (vLLM, SGLang, DeepSeek, OpenRouter).

Their variants are options, not dialects of their own: reasoning may come in `reasoning_content`,
`reasoning` / `reasoning_details` or inline `<think>` tags (the transform handles all three), the
chat template may open `<think>` itself (`TransformContext.think_open`), and some providers want
the reasoning back in the next turn (`TransformContext.seal_chat_reasoning`: it goes out sealed
in its field, and `restore_sealed` opens it on the next request). Chat has no switch to turn
reasoning output off, so under strip the answer is filtered and the request is left alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from guardgate.hardening.sealing import Sealer, SealError
from guardgate.model import ApiKind
from guardgate.protocols.dialects._base import Dialect, open_sealed, restore_each
from guardgate.protocols.reasoning_base import BodyTransformer, StreamTransformer
from guardgate.protocols.reasoning_openai_chat import (
    REASONING_FIELDS,
    SEALED_CHAT_REASONING,
    ChatBodyTransformer,
    ChatStreamTransformer,
)

__all__ = ["OpenAIChat"]


class OpenAIChat(Dialect):
    """OpenAI Chat Completions."""

    __slots__ = ()

    api: ClassVar[ApiKind] = ApiKind.OPENAI_CHAT
    path: ClassVar[str] = "/v1/chat/completions"
    stores_answers: ClassVar[bool] = True
    prompt_fields: ClassVar[tuple[str, ...]] = ("messages", "tools", "functions")
    body_transformer: ClassVar[type[BodyTransformer]] = ChatBodyTransformer
    stream_transformer: ClassVar[type[StreamTransformer]] = ChatStreamTransformer

    def restore_sealed(self, body: dict[str, Any], sealer: Sealer) -> bool:
        """Restore the sealed reasoning field of earlier assistant messages."""
        return restore_each(body, "messages", _restore_message, sealer)


def _restore_message(message: Any, sealer: Sealer) -> Any:
    if not isinstance(message, dict) or message.get("role") != "assistant":
        return message
    restored = message
    for name in REASONING_FIELDS:
        value = message.get(name)
        if not isinstance(value, str):
            continue
        # The token is the whole field, or its last paragraph after a summary.
        token = value if Sealer.is_sealed(value) else value.rpartition("\n\n")[2]
        token = token.strip()
        if not Sealer.is_sealed(token):
            continue
        original = open_sealed(token, sealer, (SEALED_CHAT_REASONING,))
        text = original.get("text")
        if not isinstance(text, str):
            raise SealError("sealed token holds an unexpected value")
        if restored is message:
            restored = dict(message)
        restored[name] = text
    return restored
