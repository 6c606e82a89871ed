"""Request bodies in the three wire formats, including multi-turn histories and tool schemas."""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

from guardgate.model import ApiKind

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MESSAGES_PATH = "/v1/messages"

PATHS = {
    ApiKind.OPENAI_CHAT: CHAT_PATH,
    ApiKind.OPENAI_RESPONSES: RESPONSES_PATH,
    ApiKind.ANTHROPIC_MESSAGES: MESSAGES_PATH,
}

NEW_MODEL = "frontier-2"
OPENAI_MODELS = ("gpt-4o", "gpt-4.1-mini", "o3-mini", "deepseek-r1")
REASONING_MODELS = frozenset({"o3-mini", "deepseek-r1", NEW_MODEL})
ANTHROPIC_MODEL = "claude-sonnet-4-5"

_ALNUM = string.ascii_letters + string.digits


def random_id(rng: random.Random, prefix: str, length: int = 24) -> str:
    """An id such as `call_...` or `toolu_...`."""
    return prefix + "".join(rng.choices(_ALNUM, k=length))


@dataclass(frozen=True)
class ToolSpec:
    """A function tool, converted to each API's schema shape on demand."""

    name: str
    description: str
    params: tuple[tuple[str, str, str], ...]  # (name, json type, description)

    def json_schema(self) -> dict[str, object]:
        """The JSON Schema of the tool's arguments."""
        return {
            "type": "object",
            "properties": {n: {"type": t, "description": d} for n, t, d in self.params},
            "required": [self.params[0][0]] if self.params else [],
        }

    def for_api(self, api: ApiKind) -> dict[str, object]:
        """The tool definition as `api` expects it."""
        if api is ApiKind.ANTHROPIC_MESSAGES:
            return {
                "name": self.name,
                "description": self.description,
                "input_schema": self.json_schema(),
            }
        if api is ApiKind.OPENAI_RESPONSES:
            return {
                "type": "function",
                "name": self.name,
                "description": self.description,
                "parameters": self.json_schema(),
                "strict": False,
            }
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.json_schema(),
            },
        }


def tools_for(api: ApiKind, specs: Sequence[ToolSpec]) -> list[dict[str, object]]:
    """A list of tool definitions for `api`."""
    return [s.for_api(api) for s in specs]


def sampling_params(
    rng: random.Random, api: ApiKind, model: str, *, max_tokens: int | None = None
) -> dict[str, object]:
    """Parameters a typical hand-written call sets for `model`; many set none at all."""
    params: dict[str, object] = {}
    reasoning = model in REASONING_MODELS
    if api is ApiKind.ANTHROPIC_MESSAGES:
        params["max_tokens"] = max_tokens or rng.choice((1024, 2048, 4096, 8192))
        if rng.random() < 0.3:
            params["temperature"] = rng.choice((0.2, 0.5, 0.7, 1.0))
        return params
    if api is ApiKind.OPENAI_RESPONSES:
        if max_tokens or rng.random() < 0.3:
            params["max_output_tokens"] = max_tokens or rng.choice((1024, 4096))
        if reasoning and rng.random() < 0.5:
            params["reasoning"] = {"effort": rng.choice(("low", "medium", "high"))}
        return params
    if reasoning and model != "deepseek-r1":
        if max_tokens or rng.random() < 0.4:
            params["max_completion_tokens"] = max_tokens or rng.choice((2000, 4000, 8000))
        if rng.random() < 0.4:
            params["reasoning_effort"] = rng.choice(("low", "medium", "high"))
        return params
    if rng.random() < 0.45:
        params["temperature"] = 0.6 if model == "deepseek-r1" else rng.choice((0, 0.2, 0.7, 1))
    if max_tokens or rng.random() < 0.3:
        params["max_tokens"] = max_tokens or rng.choice((256, 512, 1000, 2048))
    return params


def text_body(
    api: ApiKind,
    model: str,
    history: Sequence[tuple[str, str]],
    user: str,
    *,
    system: str | None = None,
    params: dict[str, object] | None = None,
    stream: bool = False,
) -> dict[str, object]:
    """A text chat request: `history` is (user, assistant) pairs before the new `user` turn."""
    body: dict[str, object] = {"model": model}
    if api is ApiKind.ANTHROPIC_MESSAGES:
        msgs: list[dict[str, object]] = []
        for u, a in history:
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        msgs.append({"role": "user", "content": user})
        body["messages"] = msgs
        if system is not None:
            body["system"] = system
    elif api is ApiKind.OPENAI_RESPONSES:
        if system is not None:
            body["instructions"] = system
        if history:
            items: list[dict[str, object]] = []
            for u, a in history:
                items += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
            items.append({"role": "user", "content": user})
            body["input"] = items
        else:
            body["input"] = user
    else:
        chat: list[dict[str, object]] = []
        if system is not None:
            chat.append({"role": "system", "content": system})
        for u, a in history:
            chat += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        chat.append({"role": "user", "content": user})
        body["messages"] = chat
    if params:
        body.update(params)
    if stream:
        body["stream"] = True
        if api is ApiKind.OPENAI_CHAT:
            body["stream_options"] = {"include_usage": True}
    return body
