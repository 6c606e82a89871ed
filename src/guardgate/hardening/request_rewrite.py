"""Rewriting a request body before it goes upstream.

Always: sealed reasoning handed out on an earlier turn is restored to the original (an Anthropic
thinking block, a Responses reasoning item, or the text of a Chat assistant message's
`reasoning_content` / `reasoning`), since a client hardened earlier may be passed now. For tiers
that strip: ask the upstream not to produce what would be thrown away, where the API allows it.
With `drop_logprobs`: remove the parameters that expose token probabilities or steer them
(`logprobs`, `top_logprobs`, `logit_bias`, and vLLM's `prompt_logprobs` and `echo`, which return
the prompt with its token probabilities).
"""

from __future__ import annotations

import json
from typing import Any

from guardgate.hardening.sealing import Sealer, SealError
from guardgate.model import ApiKind, ReasoningPolicy

__all__ = ["SEALED_CHAT_REASONING", "restore_sealed", "rewrite_request"]

_LOGPROB_KEYS = ("logprobs", "top_logprobs", "logit_bias", "prompt_logprobs", "echo")
SEALED_CHAT_REASONING = "chat_reasoning"
"""The `type` of a sealed Chat reasoning trace: `{"type": "chat_reasoning", "text": ...}`."""
_CHAT_REASONING_FIELDS = ("reasoning_content", "reasoning")


def rewrite_request(
    api: ApiKind,
    body: dict[str, Any],
    *,
    policy: ReasoningPolicy,
    sealer: Sealer,
    drop_logprobs: bool,
) -> tuple[dict[str, Any], bool]:
    """The body to send upstream and whether it differs; raises `SealError` on a bad token.

    `body` is not modified; a changed body is a new dict with the client's key order kept.
    """
    new = dict(body)
    changed = restore_sealed(api, new, sealer)
    if policy is ReasoningPolicy.STRIP:
        changed = _omit_reasoning(api, new) or changed
    if drop_logprobs:
        changed = _drop_logprobs(api, new) or changed
    return (new, True) if changed else (body, False)


def restore_sealed(api: ApiKind, body: dict[str, Any], sealer: Sealer) -> bool:
    """Replace sealed blocks (Anthropic), items (Responses) or reasoning fields (Chat) in
    `body` by their originals."""
    if api is ApiKind.OPENAI_CHAT:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return False
        restored = [_restore_chat_message(message, sealer) for message in messages]
        if any(new is not old for new, old in zip(restored, messages, strict=True)):
            body["messages"] = restored
            return True
        return False
    if api is ApiKind.ANTHROPIC_MESSAGES:
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
    if api is ApiKind.OPENAI_RESPONSES:
        items = body.get("input")
        if not isinstance(items, list):
            return False
        restored = [_restore_item(item, sealer) for item in items]
        if any(new is not old for new, old in zip(restored, items, strict=True)):
            body["input"] = restored
            return True
    return False


def _open_json(token: str, sealer: Sealer, kinds: tuple[str, ...]) -> dict[str, Any]:
    try:
        original = json.loads(sealer.open(token))
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, SealError):
            raise
        raise SealError("sealed token does not hold a JSON object") from exc
    if not isinstance(original, dict) or original.get("type") not in kinds:
        raise SealError("sealed token holds an unexpected value")
    return original


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
    original = _open_json(token, sealer, ("thinking", "redacted_thinking"))
    # A client-side cache_control on the block is the client's, not part of what was sealed.
    if "cache_control" in block:
        original["cache_control"] = block["cache_control"]
    return original


def _restore_chat_message(message: Any, sealer: Sealer) -> Any:
    if not isinstance(message, dict) or message.get("role") != "assistant":
        return message
    restored = message
    for name in _CHAT_REASONING_FIELDS:
        value = message.get(name)
        if not isinstance(value, str):
            continue
        # The token is the whole field, or its last paragraph after a summary.
        token = value if Sealer.is_sealed(value) else value.rpartition("\n\n")[2]
        token = token.strip()
        if not Sealer.is_sealed(token):
            continue
        original = _open_json(token, sealer, (SEALED_CHAT_REASONING,))
        text = original.get("text")
        if not isinstance(text, str):
            raise SealError("sealed token holds an unexpected value")
        if restored is message:
            restored = dict(message)
        restored[name] = text
    return restored


def _restore_item(item: Any, sealer: Sealer) -> Any:
    if not isinstance(item, dict) or item.get("type") != "reasoning":
        return item
    token = item.get("encrypted_content")
    if not isinstance(token, str) or not Sealer.is_sealed(token):
        return item
    return _open_json(token, sealer, ("reasoning",))


def _omit_reasoning(api: ApiKind, body: dict[str, Any]) -> bool:
    if api is ApiKind.ANTHROPIC_MESSAGES:
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
    if api is ApiKind.OPENAI_RESPONSES:
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict) and reasoning.get("summary") is not None:
            body["reasoning"] = {k: v for k, v in reasoning.items() if k != "summary"}
            return True
        return False
    # Chat Completions has no standard switch for reasoning output; the response is filtered.
    return False


def _drop_logprobs(api: ApiKind, body: dict[str, Any]) -> bool:
    changed = False
    for key in _LOGPROB_KEYS:
        if key in body:
            del body[key]
            changed = True
    if api is ApiKind.OPENAI_RESPONSES:
        include = body.get("include")
        if isinstance(include, list) and any("logprobs" in str(entry) for entry in include):
            body["include"] = [entry for entry in include if "logprobs" not in str(entry)]
            changed = True
    return changed
