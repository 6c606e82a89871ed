"""Test support: an app with vLLM's routes and vLLM's authentication rule, whose answers carry a
reasoning trace ("SECRET-PLAN ...") that guardgate must hide under strip.

Auth as vLLM's `AuthenticationMiddleware` does it: `Headers.get("Authorization")` (the FIRST
header of that name) must be `Bearer <a known key>`; no other header or parameter counts.
Routes: `POST /v1/chat/completions`, `POST /v1/completions`, vLLM's SageMaker `POST /invocations`
(a Chat body with `messages`, a Completions body with `prompt`), vLLM's token-in/token-out
`POST /inference/v1/generate`, SGLang's native `POST /generate`, `GET /v1/models`, stored read-backs
`GET /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`, `GET /v1/chat/completions/{id}`,
and an unrelated `GET /health` and `POST /v1/batches`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from tests.gateway import running_sidecar

from guardgate import GuardgateMiddleware
from guardgate.settings import load_settings
from guardgate.testing import ServerThread

SECRET = "SECRET-PLAN"
TRACE = f"{SECRET}: first add the tens, then carry the one."
KEYS = frozenset({"sk-real", "sk-other"})
calls: list[str] = []
"""`METHOD path` of every request the app answered (auth passed)."""


class VllmAuth:
    """vLLM's rule: the first `Authorization` header must be a known bearer token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            value = Headers(scope=scope).get("Authorization") or ""
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or token not in KEYS:
                await JSONResponse({"error": "Unauthorized"}, status_code=401)(scope, receive, send)
                return
        if scope["type"] == "http":
            calls.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def _chat(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "reasoning": TRACE, "content": "The answer: 42."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
    }


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "text": f"{TRACE}</think>The answer: 42.", "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
    }


def _stored_response(response_id: str) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "o4-mini",
        "output": [
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": TRACE}],
            },
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "The answer: 42.", "annotations": []}],
            },
        ],
        "usage": {"input_tokens": 5, "output_tokens": 9, "total_tokens": 14},
    }


def _think_open_stream(model: str, cut: bool) -> Iterator[bytes]:
    """A think-open model served without a reasoning parser: the template opened `<think>`, so
    the content is `trace</think>answer` (only the trace when cut by `max_tokens`)."""
    pieces = [TRACE[:12], TRACE[12:], "</think>", "The answer", ": 42."]
    if cut:
        pieces = pieces[:2]
    base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model}
    for piece in pieces:
        delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
        yield b"data: " + json.dumps({**base, "choices": [delta]}).encode() + b"\n\n"
    end = {"index": 0, "delta": {}, "finish_reason": "length" if cut else "stop"}
    yield b"data: " + json.dumps({**base, "choices": [end]}).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


async def chat(request: Request) -> Response:
    body = await request.json()
    model = body.get("model") or "default"  # vLLM serves its default model without one
    if body.get("stream"):
        cut = body.get("max_tokens") == 5
        return StreamingResponse(_think_open_stream(model, cut), media_type="text/event-stream")
    answer = JSONResponse(_chat(model))
    if request.headers.get("x-cut-body"):  # the answer broken off mid-body
        return Response(answer.body[: len(answer.body) // 2], media_type="application/json")
    return answer


async def completions(request: Request) -> Response:
    body = await request.json()
    return JSONResponse(_completion(body.get("model") or "default"))


async def invocations(request: Request) -> Response:
    body = await request.json()
    if "messages" in body:
        return JSONResponse(_chat(body.get("model") or "default"))
    return JSONResponse(_completion(body.get("model") or "default"))


async def generate_tokens(request: Request) -> Response:
    return JSONResponse({"choices": [{"index": 0, "token_ids": [1, 2, 3], "text": TRACE}]})


async def sglang_generate(request: Request) -> Response:
    return JSONResponse({"text": f"<think>{TRACE}</think>42", "meta_info": {}})


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "m", "object": "model"}]})


async def stored_response(request: Request) -> Response:
    return JSONResponse(_stored_response(request.path_params["rid"]))


async def input_items(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"type": "message", "content": TRACE}]})


async def stored_chat(request: Request) -> Response:
    return JSONResponse(_chat("o4-mini"))


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def batches(request: Request) -> Response:
    return JSONResponse({"id": "batch_1", "object": "batch"})


def vllm_like_app() -> Starlette:
    """The app, with vLLM's auth in front (add guardgate around it to mount it)."""
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/inference/v1/generate", generate_tokens, methods=["POST"]),
            Route("/generate", sglang_generate, methods=["POST", "PUT"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/responses/{rid}", stored_response, methods=["GET"]),
            Route("/v1/responses/{rid}/input_items", input_items, methods=["GET"]),
            Route("/v1/chat/completions/{cid}", stored_chat, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/v1/batches", batches, methods=["POST"]),
        ]
    )
    app.add_middleware(VllmAuth)
    return app


DOORS = ["sidecar", "mounted"]
"""The doors `guarded` opens."""


@contextmanager
def guarded(door: str, upstream: ServerThread, **overrides: Any) -> Iterator[ServerThread]:
    """guardgate in front of this app, under `overrides`, through `door`: a real sidecar
    forwarding to `upstream` (a running `vllm_like_app`), or a fresh app with the middleware
    mounted."""
    if door == "sidecar":
        with running_sidecar(upstream.url, **overrides) as server:
            yield server
        return
    app = vllm_like_app()
    app.add_middleware(GuardgateMiddleware, settings=load_settings(**overrides))
    with ServerThread(app) as server:
        yield server
