"""The shape of a request body: which parameters, in which key order, with which tools and system
prompt, and the text of the prompt it carries, for every supported wire format.

Hashes here identify the software and configuration that built a request; none of them can be
reversed into the prompt.
"""

from __future__ import annotations

from typing import Any

from guardgate.model import ApiKind
from guardgate.protocols.dialects import dialect_for, text_of
from guardgate.records import record
from guardgate.signals.hashing import short_hash

# Keys that carry content or routing, not sampling choices; `model` is left out on purpose:
# farms move to each new model within a day, and the same script then sends another model name.
_NOT_PARAMS = frozenset(
    {
        "messages",
        "input",
        "prompt",
        "system",
        "instructions",
        "tools",
        "functions",
        "model",
        "metadata",
        "user",
        "previous_response_id",
        "conversation",
        "safety_identifier",
        "prompt_cache_key",
    }
)
_SYSTEM_ROLES = frozenset({"system", "developer"})
_SYSTEM_HEAD = 4096


@record
class RequestShape:
    """What the body of one request says about the software that built it, and its prompt."""

    param_signature: str
    key_order_hash: str
    tools_hash: str
    system_text: str
    """The system / developer prompt (only hashed downstream, never stored)."""
    prompt_text: str
    """The text of the last user turn (only sketched downstream, never stored)."""
    has_tools: bool
    turns: int
    """Messages in the conversation, system and developer prompts not counted (1: single-shot)."""
    reasoning_requested: bool
    """Whether the body asks for a reasoning effort or a thinking budget."""


def _scalar(value: Any) -> str:
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if isinstance(value, str):
        return value[:64]
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_scalar(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    return type(value).__name__


def _param_signature(body: dict[str, Any]) -> str:
    parts = [f"{k}={_scalar(v)}" for k, v in sorted(body.items()) if k not in _NOT_PARAMS]
    return short_hash("&".join(parts))


def _key_order(body: dict[str, Any], turns: list[Any]) -> str:
    # json.loads keeps the order the client wrote; each SDK and script has its own.
    order = ",".join(body)
    if turns and isinstance(turns[0], dict):
        order += ";" + ",".join(turns[0])
    return short_hash(order)


def _tools_hash(tools: Any) -> str:
    """Names and parameter names of the tools: their schema's skeleton, cheap to hash."""
    if not isinstance(tools, list) or not tools:
        return ""
    parts = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        spec: dict[str, Any] = function if isinstance(function, dict) else tool
        name = spec.get("name") or tool.get("type") or ""
        schema = spec.get("parameters") or spec.get("input_schema") or {}
        props = schema.get("properties") if isinstance(schema, dict) else None
        keys = ",".join(props) if isinstance(props, dict) else ""
        parts.append(f"{name}({keys})")
    return short_hash(";".join(parts))


def _reasoning_requested(body: dict[str, Any]) -> bool:
    reasoning = body.get("reasoning")
    thinking = body.get("thinking")
    return bool(
        body.get("reasoning_effort")
        or (isinstance(reasoning, dict) and reasoning.get("effort"))
        or (isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"))
    )


def request_shape(api: ApiKind, body: dict[str, Any]) -> RequestShape:
    """The shape of a parsed request body for `api`."""
    system, prompt, turns = dialect_for(api).conversation(body)
    spoken = len(turns)
    last_user = -1
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            continue
        role = turn.get("role")
        if role in _SYSTEM_ROLES:
            spoken -= 1
            if not system:
                system = text_of(turn.get("content"))
        elif role == "user":
            last_user = i
    # Only the last user turn with text is the prompt: a long history is not read again.
    for i in range(last_user, -1, -1):
        turn = turns[i]
        if isinstance(turn, dict) and turn.get("role") == "user":
            text = text_of(turn.get("content"))
            if text:
                prompt = text
                break
    tools = body.get("tools")
    return RequestShape(
        param_signature=_param_signature(body),
        key_order_hash=_key_order(body, turns),
        tools_hash=_tools_hash(tools),
        system_text=system[:_SYSTEM_HEAD],
        prompt_text=prompt,
        has_tools=bool(tools),
        turns=max(1, spoken),
        reasoning_requested=_reasoning_requested(body),
    )
