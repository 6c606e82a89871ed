"""Which LLM API a path belongs to."""

from __future__ import annotations

from guardgate.model import ApiKind
from guardgate.protocols.dialects import DIALECTS

_SUFFIXES: dict[str, ApiKind] = {dialect.path: api for api, dialect in DIALECTS.items()}


def api_for_path(path: str, prefix: str = "") -> ApiKind | None:
    """The API a request path targets, or None for anything guardgate does not inspect.

    `prefix` is the operator's optional path prefix (already normalised: "" or "/x").
    A trailing slash is tolerated, as the providers' servers tolerate it.
    """
    if prefix:
        if not path.startswith(prefix):
            return None
        path = path[len(prefix) :]
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return _SUFFIXES.get(path)


def api_paths(prefix: str = "") -> dict[str, ApiKind]:
    """Every path `api_for_path` maps to an API, with that API (a look-up table)."""
    return {
        f"{prefix}{suffix}{tail}": api for suffix, api in _SUFFIXES.items() for tail in ("", "/")
    }


def api_for_error(path: str) -> ApiKind:
    """The API whose error format suits a path, defaulting to OpenAI's for unknown paths."""
    return ApiKind.ANTHROPIC_MESSAGES if "/v1/messages" in path else ApiKind.OPENAI_CHAT
