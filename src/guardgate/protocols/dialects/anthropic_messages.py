"""Anthropic Messages (`/v1/messages`): `system` and `messages` in, content blocks out.

Errors are `{"type": "error", "error": {"type", "message"}}` (mid-stream as an `error` event),
rate limits are announced in `anthropic-ratelimit-*` headers with RFC 3339 resets, and cached
input counts as input. Reasoning comes as `thinking` blocks; a hidden one carries the original
sealed (in `data`, or as the `signature` of a summary), which `restore_sealed` opens when a tool
loop sends the block back. Under strip the request asks for the thinking display `omitted`: the
blocks and their signatures still come, their text does not.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, ClassVar

from guardgate.hardening.sealing import Sealer
from guardgate.model import ApiKind
from guardgate.protocols.dialects._base import (
    Conversation,
    Dialect,
    add_text,
    as_list,
    count_of,
    open_sealed,
    text_of,
)
from guardgate.protocols.reasoning_anthropic import (
    AnthropicBodyTransformer,
    AnthropicStreamTransformer,
)
from guardgate.protocols.reasoning_base import BodyTransformer, StreamTransformer

__all__ = ["AnthropicMessages"]

_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}
_CACHED_INPUT = ("cache_creation_input_tokens", "cache_read_input_tokens")


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(math.ceil(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AnthropicMessages(Dialect):
    """Anthropic Messages."""

    __slots__ = ()

    api: ClassVar[ApiKind] = ApiKind.ANTHROPIC_MESSAGES
    path: ClassVar[str] = "/v1/messages"
    prompt_fields: ClassVar[tuple[str, ...]] = ("system", "messages", "tools")
    completion_field: ClassVar[str] = "output_tokens"
    sse_error_prefix: ClassVar[bytes] = b"event: error\ndata: "
    body_transformer: ClassVar[type[BodyTransformer]] = AnthropicBodyTransformer
    stream_transformer: ClassVar[type[StreamTransformer]] = AnthropicStreamTransformer

    def error_body(self, status: int, message: str) -> bytes:
        """`{"type": "error", "error": {"type", "message"}}`."""
        kind = _ERROR_TYPES.get(status, "api_error")
        payload = {"type": "error", "error": {"type": kind, "message": message}}
        return json.dumps(payload, separators=(",", ":")).encode()

    def rate_limit_headers(
        self, name: str, limit: int, remaining: int, reset_in: float, now: float
    ) -> list[tuple[str, str]]:
        """`anthropic-ratelimit-*`, the reset as an RFC 3339 time."""
        return [
            (f"anthropic-ratelimit-{name}-limit", str(limit)),
            (f"anthropic-ratelimit-{name}-remaining", str(remaining)),
            (f"anthropic-ratelimit-{name}-reset", _rfc3339(now + reset_in)),
        ]

    def restore_sealed(self, body: dict[str, Any], sealer: Sealer) -> bool:
        """Restore sealed thinking blocks in the content of `messages`."""
        messages = body.get("messages")
        if not isinstance(messages, list):
            return False
        messages = list(messages)  # the caller's body stays as the client sent it
        changed = False
        for i, message in enumerate(messages):
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            restored = [_restore_block(block, sealer) for block in content]
            if any(new is not old for new, old in zip(restored, content, strict=True)):
                messages[i] = {**message, "content": restored}
                changed = True
        if changed:
            body["messages"] = messages
        return changed

    def omit_reasoning(self, body: dict[str, Any]) -> bool:
        """Ask for the thinking display `omitted`."""
        thinking = body.get("thinking")
        if (
            isinstance(thinking, dict)
            and thinking.get("type") in ("enabled", "adaptive")
            and thinking.get("display") != "omitted"
        ):
            # The blocks (and their signatures, which tool loops need) still come; the text not.
            body["thinking"] = {**thinking, "display": "omitted"}
            return True
        return False

    def usage_figures(self, usage: dict[str, Any]) -> tuple[int | None, int | None]:
        """`input_tokens` (cached input too: the model read it) and `output_tokens`."""
        prompt = count_of(usage.get("input_tokens"))
        if prompt is not None:
            prompt += sum(count_of(usage.get(key)) or 0 for key in _CACHED_INPUT)
        return prompt, count_of(usage.get("output_tokens"))

    def answer_texts(self, payload: dict[str, Any], texts: list[str]) -> None:
        """Text, thinking and tool inputs of the content blocks."""
        _block_texts(payload.get("content"), texts)

    def stream_event(self, payload: dict[str, Any], texts: list[str] | None) -> tuple[Any, bool]:
        """Block deltas carry text; `message_start` a running usage, `message_delta` the
        final one."""
        kind = payload.get("type")
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict):
                for key in ("text", "thinking", "partial_json"):
                    add_text(texts, delta.get(key))
        elif kind == "content_block_start":
            if texts is not None:
                _block_texts([payload.get("content_block")], texts)
        elif kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                # message_start's output_tokens is a running count, not the total.
                return message.get("usage"), False
        elif kind == "message_delta":
            return payload.get("usage"), True
        return None, True

    def conversation(self, body: dict[str, Any]) -> Conversation:
        """`system` is the system prompt (a string or text blocks); `messages` the turns."""
        messages = body.get("messages")
        turns = messages if isinstance(messages, list) else []
        return text_of(body.get("system")), "", turns


def _block_texts(blocks: Any, texts: list[str]) -> None:
    for block in as_list(blocks):
        if not isinstance(block, dict):
            continue
        add_text(texts, block.get("text"))
        add_text(texts, block.get("thinking"))
        if isinstance(block.get("input"), dict) and block["input"]:
            texts.append(json.dumps(block["input"], separators=(",", ":")))


def _restore_block(block: Any, sealer: Sealer) -> Any:
    if not isinstance(block, dict):
        return block
    kind = block.get("type")
    if kind == "redacted_thinking":
        token = block.get("data")
    elif kind == "thinking":
        token = block.get("signature")
    else:
        return block
    if not isinstance(token, str) or not Sealer.is_sealed(token):
        return block
    original = open_sealed(token, sealer, ("thinking", "redacted_thinking"))
    # A client-side cache_control on the block is the client's, not part of what was sealed.
    if "cache_control" in block:
        original["cache_control"] = block["cache_control"]
    return original
