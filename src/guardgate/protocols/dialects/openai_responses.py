"""OpenAI Responses (`/v1/responses`): `input` items in, `output` items out.

Reasoning comes as `reasoning` output items; a hidden one is sealed into its
`encrypted_content`, from where `restore_sealed` puts the original back when the client sends the
item in a later request. Under strip the request stops asking for a reasoning summary.
"""

from __future__ import annotations

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
    restore_each,
)
from guardgate.protocols.reasoning_base import BodyTransformer, StreamTransformer
from guardgate.protocols.reasoning_responses import (
    ResponsesBodyTransformer,
    ResponsesStreamTransformer,
)

__all__ = ["OpenAIResponses"]

_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class OpenAIResponses(Dialect):
    """OpenAI Responses."""

    __slots__ = ()

    api: ClassVar[ApiKind] = ApiKind.OPENAI_RESPONSES
    path: ClassVar[str] = "/v1/responses"
    stores_answers: ClassVar[bool] = True
    prompt_fields: ClassVar[tuple[str, ...]] = ("instructions", "input", "tools")
    completion_field: ClassVar[str] = "output_tokens"
    body_transformer: ClassVar[type[BodyTransformer]] = ResponsesBodyTransformer
    stream_transformer: ClassVar[type[StreamTransformer]] = ResponsesStreamTransformer

    def restore_sealed(self, body: dict[str, Any], sealer: Sealer) -> bool:
        """Restore sealed reasoning items of `input`."""
        return restore_each(body, "input", _restore_item, sealer)

    def omit_reasoning(self, body: dict[str, Any]) -> bool:
        """Stop asking for a reasoning summary."""
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict) and reasoning.get("summary") is not None:
            body["reasoning"] = {k: v for k, v in reasoning.items() if k != "summary"}
            return True
        return False

    def drop_logprobs(self, body: dict[str, Any]) -> bool:
        """The logprob parameters, and logprobs asked for through `include`."""
        changed = super().drop_logprobs(body)
        include = body.get("include")
        if isinstance(include, list) and any("logprobs" in str(entry) for entry in include):
            body["include"] = [entry for entry in include if "logprobs" not in str(entry)]
            changed = True
        return changed

    def usage_figures(self, usage: dict[str, Any]) -> tuple[int | None, int | None]:
        """`input_tokens` and `output_tokens`."""
        return count_of(usage.get("input_tokens")), count_of(usage.get("output_tokens"))

    def answer_texts(self, payload: dict[str, Any], texts: list[str]) -> None:
        """The text of every output item: message parts, summaries, call arguments."""
        for item in as_list(payload.get("output")):
            if not isinstance(item, dict):
                continue
            for part in as_list(item.get("content")) + as_list(item.get("summary")):
                if isinstance(part, dict):
                    add_text(texts, part.get("text"))
            add_text(texts, item.get("arguments"))

    def stream_event(self, payload: dict[str, Any], texts: list[str] | None) -> tuple[Any, bool]:
        """Every `*.delta` event but audio carries text; the final event carries usage."""
        kind = payload.get("type")
        if not isinstance(kind, str):
            return None, True
        if kind.endswith(".delta"):
            if kind != "response.audio.delta":  # base64 audio is not text
                add_text(texts, payload.get("delta"))
        elif kind in _FINAL_EVENTS:
            response = payload.get("response")
            if isinstance(response, dict):
                return response.get("usage"), True
        return None, True

    def conversation(self, body: dict[str, Any]) -> Conversation:
        """`instructions` is the system prompt; `input` is the prompt or the turns."""
        raw_input = body.get("input")
        instructions = body.get("instructions")
        system = instructions if isinstance(instructions, str) else ""
        if isinstance(raw_input, str):
            return system, raw_input, []
        return system, "", raw_input if isinstance(raw_input, list) else []


def _restore_item(item: Any, sealer: Sealer) -> Any:
    if not isinstance(item, dict) or item.get("type") != "reasoning":
        return item
    token = item.get("encrypted_content")
    if not isinstance(token, str) or not Sealer.is_sealed(token):
        return item
    return open_sealed(token, sealer, ("reasoning",))
