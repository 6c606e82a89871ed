"""A deterministic mock LLM upstream speaking the OpenAI and Anthropic wire formats.

`create_mock_upstream()` returns a plain Starlette app with:
- `POST /v1/chat/completions`, `POST /v1/completions`: OpenAI Chat / legacy Completions; the
  model name picks the reasoning style (`mock-reasoning-content`, `mock-reasoning`, `mock-think`,
  `mock-think-open`, anything else: none);
- `POST /v1/responses`: OpenAI Responses, with reasoning items and verifiable `encrypted_content`;
- `POST /v1/messages`: Anthropic Messages, with signed thinking blocks, and a 400 like the real
  API's when a tool loop comes back without its thinking block or with it altered;
- `POST /v1/messages/count_tokens`: its input tokens, after the same checks;
- `GET /mock/requests`, `POST /mock/reset`: the last 1,000 requests received, for tests.

Request headers steer it: `x-mock-delay` (seconds before the first byte), `x-mock-chunk-delay`
(seconds between stream events), `x-mock-fail: close-early | 500`, `x-mock-status: <code>`,
`x-mock-reasoning-repeat: <n>` (Responses: the reasoning trace written n times over).
What it says is a pure function of the prompt: see `mock_reasoning_text` and `mock_answer_text`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from guardgate.testing._mock_anthropic import count_tokens_route, messages
from guardgate.testing._mock_http import MockState
from guardgate.testing._mock_openai_chat import chat_completions, completions
from guardgate.testing._mock_responses import responses
from guardgate.testing._mock_text import (
    MockSigner,
    mock_answer_text,
    mock_reasoning_text,
    mock_summary_text,
    mock_tool_arguments,
)

__all__ = [
    "create_mock_upstream",
    "mock_answer_text",
    "mock_reasoning_text",
    "mock_summary_text",
    "mock_tool_arguments",
]

_Handler = Callable[[Request, MockState], Awaitable[Response]]


def _bind(handler: _Handler, state: MockState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(request, state)

    endpoint.__name__ = handler.__name__
    return endpoint


async def _requests(request: Request, state: MockState) -> Response:
    return JSONResponse([r.to_json() for r in state.requests])


async def _reset(request: Request, state: MockState) -> Response:
    state.requests.clear()
    return JSONResponse({"cleared": True})


def create_mock_upstream(secret: bytes | None = None) -> Starlette:
    """The mock upstream app; `secret` keys its signatures (random per app when None)."""
    state = MockState(MockSigner(secret if secret is not None else secrets.token_bytes(32)))
    routes = [
        Route("/v1/chat/completions", _bind(chat_completions, state), methods=["POST"]),
        Route("/v1/completions", _bind(completions, state), methods=["POST"]),
        Route("/v1/responses", _bind(responses, state), methods=["POST"]),
        Route("/v1/messages", _bind(messages, state), methods=["POST"]),
        Route("/v1/messages/count_tokens", _bind(count_tokens_route, state), methods=["POST"]),
        Route("/mock/requests", _bind(_requests, state), methods=["GET"]),
        Route("/mock/reset", _bind(_reset, state), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.mock = state
    return app
