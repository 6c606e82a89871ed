"""Which routes guardgate judges, which it lets by as harmless, and which it denies.

Three kinds of route reach a model's output, and each is judged like the LLM endpoint it
serves:

- the LLM endpoints (`POST /v1/chat/completions`, `/v1/completions`, `/v1/responses`,
  `/v1/messages`);
- their aliases in model servers: vLLM's SageMaker route `POST /invocations` takes a Chat body
  (`messages`) or a Completions body (`prompt`) and answers in the same format;
- read-backs of stored answers: `GET /v1/responses/{id}` (a stored Response, JSON or with
  `?stream=true` its events) and `GET /v1/chat/completions/{id}` (a stored `chat.completion`),
  transformed with the same reasoning policy as the account's POST.

Aliases whose format guardgate cannot map are denied (404, any method) even when mounted in an
app: vLLM's token-in/token-out `POST /inference/v1/generate` and SGLang's native `/generate`
(`POST` and `PUT`).
The sidecar forwards, besides the judged routes, only harmless metadata (`GET /v1/models`,
`GET /v1/models/{id}`, `POST /v1/messages/count_tokens`, whose sealed thinking blocks the door
restores) and what the operator lists in `GUARDGATE_PASSTHROUGH_PATHS` (unjudged); everything else
is a 404 in the provider's format (batches, files, `/v1/responses/{id}/input_items`, upstream
health and metrics, ...).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

from guardgate.model import ApiKind
from guardgate.protocols.dialects import DIALECTS
from guardgate.protocols.endpoints import api_paths

__all__ = ["ALIAS_PATHS", "DENIED_ALIASES", "RouteTable", "alias_api"]

ALIAS_PATHS = ("/invocations",)
"""Aliases of the LLM endpoints whose body says which API it is (see `alias_api`)."""
DENIED_ALIASES = ("/inference/v1/generate", "/generate")
"""Aliases that serve model output in a format guardgate cannot transform: always denied."""
_READBACKS: tuple[tuple[re.Pattern[str], ApiKind], ...] = tuple(
    (re.compile(re.escape(dialect.path) + r"/[^/]+/?"), api)
    for api, dialect in DIALECTS.items()
    if dialect.stores_answers
)
_METADATA: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GET", re.compile(r"/v1/models/?")),
    ("GET", re.compile(r"/v1/models/[^/]+/?")),
    ("POST", re.compile(r"/v1/messages/count_tokens/?")),
)


def alias_api(data: Mapping[str, Any]) -> ApiKind | None:
    """The API an alias request's body is written for (vLLM's `/invocations` routes on the
    same keys), or None when it is neither a Chat nor a Completions body."""
    if "messages" in data:
        return ApiKind.OPENAI_CHAT
    if "prompt" in data:
        return ApiKind.OPENAI_COMPLETIONS
    return None


class RouteTable:
    """The routes of one deployment (`prefix`: the operator's path prefix, "" or "/x")."""

    def __init__(self, prefix: str = "", passthrough: Sequence[str] = ()) -> None:
        self._prefix = prefix
        self.posts: dict[str, ApiKind] = dict(api_paths(prefix))
        """POST paths judged as an LLM endpoint, aliases included (an alias maps to Chat until
        its body says otherwise)."""
        for alias in ALIAS_PATHS:
            for tail in ("", "/"):
                self.posts[f"{prefix}{alias}{tail}"] = ApiKind.OPENAI_CHAT
        self.aliases = frozenset(
            f"{prefix}{alias}{tail}" for alias in ALIAS_PATHS for tail in ("", "/")
        )
        self.denied = frozenset(
            f"{prefix}{alias}{tail}" for alias in DENIED_ALIASES for tail in ("", "/")
        )
        self._passthrough = tuple(passthrough)

    def _unprefixed(self, path: str) -> str | None:
        if not self._prefix:
            return path
        return path[len(self._prefix) :] if path.startswith(self._prefix + "/") else None

    def readback(self, method: str, path: str) -> ApiKind | None:
        """The API whose answer a GET read-back returns, or None when `path` is not one."""
        if method != "GET":
            return None
        rest = self._unprefixed(path)
        if rest is None:
            return None
        for pattern, api in _READBACKS:
            if pattern.fullmatch(rest):
                return api
        return None

    def passthrough(self, path: str) -> bool:
        """Whether the operator listed `path` to be forwarded unjudged."""
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self._passthrough)

    def forwardable(self, method: str, path: str) -> bool:
        """Whether the sidecar may forward this request: judged, harmless or listed."""
        if self.passthrough(path):
            return True
        if method == "POST" and path in self.posts:
            return True
        if self.readback(method, path) is not None:
            return True
        rest = self._unprefixed(path)
        return rest is not None and any(
            method == allowed and pattern.fullmatch(rest) for allowed, pattern in _METADATA
        )
