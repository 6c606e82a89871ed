"""`Dialect`: what one LLM API's wire format says, in one place, and the OpenAI defaults.

A dialect answers every question whose answer depends on the API: how its errors and rate-limit
headers are spelled, how a request is rewritten before it goes upstream (sealed reasoning
restored, reasoning output omitted, logprob parameters dropped), which transform hides the
reasoning of its answers, where its usage figures and answer text are, which request fields the
model reads, and where a conversation's system prompt, prompt and turns are. The base class holds
OpenAI's conventions (shared by Chat, Completions and Responses); each API's module overrides
what differs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, ClassVar

from guardgate.hardening.sealing import Sealer, SealError
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.reasoning_base import (
    BodyTransformer,
    ResponseTransformer,
    StreamTransformer,
    TransformContext,
)

__all__ = ["Conversation", "Dialect", "count_of", "open_sealed", "restore_each", "text_of"]

Conversation = tuple[str, str, list[Any]]
"""(system prompt, prompt text, turns) of a request body, before the turns are read."""

_LOGPROB_KEYS = ("logprobs", "top_logprobs", "logit_bias", "prompt_logprobs", "echo")
"""Parameters that expose token probabilities or steer them (vLLM's `prompt_logprobs` and `echo`
return the prompt with its token probabilities)."""

# HTTP status -> (OpenAI error type, OpenAI code)
_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    408: ("invalid_request_error", "request_timeout"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
}


def count_of(value: Any) -> int | None:
    """A usage figure: a non-negative int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def text_of(content: Any) -> str:
    """The text of a message `content`: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def open_sealed(token: str, sealer: Sealer, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object sealed in `token`, whose `type` must be one of `kinds`; `SealError` when
    the token is forged, or holds anything else."""
    try:
        original = json.loads(sealer.open(token))
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, SealError):
            raise
        raise SealError("sealed token does not hold a JSON object") from exc
    if not isinstance(original, dict) or original.get("type") not in kinds:
        raise SealError("sealed token holds an unexpected value")
    return original


def restore_each(
    body: dict[str, Any], key: str, restore: Callable[[Any, Sealer], Any], sealer: Sealer
) -> bool:
    """Put `restore(item)` in place of each item of the list `body[key]` when any of them
    changes (a new list: the client's stays as it was); whether any changed."""
    items = body.get(key)
    if not isinstance(items, list):
        return False
    restored = [restore(item, sealer) for item in items]
    if any(new is not old for new, old in zip(restored, items, strict=True)):
        body[key] = restored
        return True
    return False


def openai_duration(seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1s`, `6m0s`, `1h2m3s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def add_text(texts: list[str] | None, value: Any) -> None:
    """Append `value` to `texts` when it is answer text (a non-empty string) and text is
    collected (`texts` is not None)."""
    if texts is not None and isinstance(value, str) and value:
        texts.append(value)


def as_list(value: Any) -> list[Any]:
    """`value` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


class Dialect:
    """One LLM API's wire format. One instance per API, shared (it holds no state)."""

    __slots__ = ()

    api: ClassVar[ApiKind]
    path: ClassVar[str]
    """The endpoint's path under the provider's base URL (`/v1/...`)."""
    prompt_fields: ClassVar[tuple[str, ...]]
    """Top-level request fields that hold what the model reads."""
    stores_answers: ClassVar[bool] = False
    """Whether a stored answer can be read back with `GET {path}/{id}`."""
    completion_field: ClassVar[str] = "completion_tokens"
    """The usage member that counts the answer's tokens."""
    sse_error_prefix: ClassVar[bytes] = b"data: "
    """What precedes an error's JSON in a mid-stream error event."""
    body_transformer: ClassVar[type[BodyTransformer]]
    """The transform that hides the reasoning of a whole JSON answer."""
    stream_transformer: ClassVar[type[StreamTransformer]]
    """The transform that hides the reasoning of an SSE answer."""

    # --- errors and rate limits --------------------------------------------------------------

    def error_body(self, status: int, message: str) -> bytes:
        """A JSON error body exactly as the provider shapes its own errors; OpenAI's:
        `{"error": {"message", "type", "param", "code"}}`."""
        kind, code = _ERROR_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return json.dumps(payload, separators=(",", ":")).encode()

    def error_event(self, status: int, message: str) -> bytes:
        """An SSE error event as the provider sends one mid-stream (the SDKs raise on it)."""
        return self.sse_error_prefix + self.error_body(status, message) + b"\n\n"

    def rate_limit_headers(
        self, name: str, limit: int, remaining: int, reset_in: float, now: float
    ) -> list[tuple[str, str]]:
        """The headers that announce one dimension (`requests` or `tokens`) of a 429: OpenAI's
        `x-ratelimit-*`, the reset as a duration."""
        return [
            (f"x-ratelimit-limit-{name}", str(limit)),
            (f"x-ratelimit-remaining-{name}", str(remaining)),
            (f"x-ratelimit-reset-{name}", openai_duration(reset_in)),
        ]

    # --- the request -------------------------------------------------------------------------

    def rewrite_request(
        self,
        body: dict[str, Any],
        *,
        policy: ReasoningPolicy,
        sealer: Sealer,
        drop_logprobs: bool,
    ) -> tuple[dict[str, Any], bool]:
        """The body to send upstream and whether it differs; raises `SealError` on a bad token.

        Always: sealed reasoning handed out on an earlier turn is restored to the original,
        since a client hardened earlier may be passed now. Under strip: the upstream is asked
        not to produce what would be thrown away, where the API allows it. With
        `drop_logprobs`: the parameters that expose or steer token probabilities go. `body` is
        not modified; a changed body is a new dict with the client's key order kept.
        """
        new = dict(body)
        changed = self.restore_sealed(new, sealer)
        if policy is ReasoningPolicy.STRIP:
            changed = self.omit_reasoning(new) or changed
        if drop_logprobs:
            changed = self.drop_logprobs(new) or changed
        return (new, True) if changed else (body, False)

    def restore_sealed(self, body: dict[str, Any], sealer: Sealer) -> bool:
        """Replace what guardgate sealed on an earlier turn in `body` (a shallow copy of the
        client's) by the originals; whether anything was replaced."""
        return False

    def omit_reasoning(self, body: dict[str, Any]) -> bool:
        """Ask the upstream not to send reasoning output; whether the body changed."""
        return False

    def drop_logprobs(self, body: dict[str, Any]) -> bool:
        """Remove the logprob parameters from `body`; whether any was there."""
        changed = False
        for key in _LOGPROB_KEYS:
            if key in body:
                del body[key]
                changed = True
        return changed

    # --- the answer --------------------------------------------------------------------------

    def response_transformer(
        self, ctx: TransformContext, *, streaming: bool
    ) -> ResponseTransformer:
        """A fresh transformer that hides the reasoning of one answer (an SSE stream when
        `streaming`, else a whole JSON body)."""
        return self.stream_transformer(ctx) if streaming else self.body_transformer(ctx)

    def usage_figures(self, usage: dict[str, Any]) -> tuple[int | None, int | None]:
        """(prompt tokens, completion tokens) of a usage object, each None when absent."""
        return count_of(usage.get("prompt_tokens")), count_of(usage.get(self.completion_field))

    def answer_texts(self, payload: dict[str, Any], texts: list[str]) -> None:
        """Append the text of a whole answer (everything the model wrote) to `texts`; OpenAI's:
        every choice's message and text."""
        choice_texts(payload.get("choices"), "message", texts)

    def stream_event(self, payload: dict[str, Any], texts: list[str] | None) -> tuple[Any, bool]:
        """Read one stream event: append its text to `texts` (when not None) and return
        (its usage object or None, whether the usage's completion figure is final); OpenAI's:
        a chunk's choices' deltas and text, the usage on the last chunk."""
        if texts is not None:
            choice_texts(payload.get("choices"), "delta", texts)
        return payload.get("usage"), True

    # --- the prompt --------------------------------------------------------------------------

    def conversation(self, body: dict[str, Any]) -> Conversation:
        """(system prompt, prompt text, turns) as the body's own fields give them; a system
        or developer turn and the last user turn are read from `turns` by the caller."""
        messages = body.get("messages")
        return "", "", messages if isinstance(messages, list) else []


def choice_texts(choices: Any, part: str, texts: list[str]) -> None:
    """Append the text of OpenAI `choices` (Chat's `message` or `delta` as `part`, and
    Completions' `text`) to `texts`: content, reasoning, refusal and tool calls."""
    for choice in as_list(choices):
        if not isinstance(choice, dict):
            continue
        message = choice.get(part)
        if isinstance(message, dict):
            for key in ("content", "reasoning_content", "reasoning", "refusal"):
                add_text(texts, message.get(key))
            for call in as_list(message.get("tool_calls")):
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    add_text(texts, call["function"].get("name"))
                    add_text(texts, call["function"].get("arguments"))
        add_text(texts, choice.get("text"))
