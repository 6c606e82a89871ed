"""Which LLM API a path belongs to, and how that API spells an error."""

from __future__ import annotations

import json

from guardgate.model import ApiKind

_SUFFIXES: dict[str, ApiKind] = {
    "/v1/chat/completions": ApiKind.OPENAI_CHAT,
    "/v1/completions": ApiKind.OPENAI_COMPLETIONS,
    "/v1/responses": ApiKind.OPENAI_RESPONSES,
    "/v1/messages": ApiKind.ANTHROPIC_MESSAGES,
}


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


# HTTP status -> (OpenAI error type, OpenAI code, Anthropic error type)
_ERROR_TYPES: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "invalid_request_error"),
    401: ("invalid_request_error", "invalid_api_key", "authentication_error"),
    403: ("permission_error", "forbidden", "permission_error"),
    404: ("invalid_request_error", "not_found", "not_found_error"),
    408: ("invalid_request_error", "request_timeout", "invalid_request_error"),
    413: ("invalid_request_error", "request_too_large", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded", "rate_limit_error"),
    500: ("server_error", None, "api_error"),
    502: ("server_error", "bad_gateway", "api_error"),
    503: ("server_error", "service_unavailable", "overloaded_error"),
    504: ("server_error", "gateway_timeout", "api_error"),
}


def error_body(api: ApiKind, status: int, message: str) -> bytes:
    """A JSON error body exactly as the provider of `api` shapes its own errors.

    OpenAI: `{"error": {"message", "type", "param", "code"}}`;
    Anthropic: `{"type": "error", "error": {"type", "message"}}`.
    """
    openai_type, code, anthropic_type = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "api_error")
    )
    if api.is_anthropic:
        payload: dict[str, object] = {
            "type": "error",
            "error": {"type": anthropic_type, "message": message},
        }
    else:
        payload = {"error": {"message": message, "type": openai_type, "param": None, "code": code}}
    return json.dumps(payload, separators=(",", ":")).encode()
