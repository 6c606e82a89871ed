"""`app.add_middleware(GuardgateMiddleware)` in a plain Starlette app, configured by env alone."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from guardgate import GuardgateMiddleware
from guardgate.testing import ServerThread

received: list[dict[str, object]] = []


async def chat(request: Request) -> Response:
    body = await request.json()
    received.append(body)
    return JSONResponse(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "reasoning_content": "Let me think about the secret plan step by step.",
                        "content": "Hello!",
                    },
                    "finish_reason": "stop",
                }
            ],
        }
    )


async def hello(request: Request) -> Response:
    return PlainTextResponse("plain " + (await request.body()).decode())


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("ws ok")
    await websocket.close()


def make_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/hello", hello, methods=["POST"]),
            WebSocketRoute("/ws", echo),
        ]
    )
    app.add_middleware(GuardgateMiddleware)
    return app


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_env_configured_middleware_guards_llm_paths_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("GUARDGATE_REASONING_POLICY_NORMAL", "strip")
    with ServerThread(make_app()) as server:
        ok = httpx.post(server.url + "/v1/chat/completions", json=CHAT)
        assert ok.status_code == 200
        message = ok.json()["choices"][0]["message"]
        assert message["content"] == "Hello!"
        assert "secret plan" not in ok.text  # stripped, by env configuration alone
        big = {**CHAT, "messages": [{"role": "user", "content": "x" * 4000}]}
        assert httpx.post(server.url + "/v1/chat/completions", json=big).status_code == 413
        # other paths are untouched, even large or non-JSON bodies
        plain = httpx.post(server.url + "/hello", content=b"y" * 4000)
        assert plain.status_code == 200 and plain.text == "plain " + "y" * 4000


def test_body_is_replayed_to_the_app_unchanged_under_pass() -> None:
    received.clear()
    with ServerThread(make_app()) as server:
        raw = json.dumps({**CHAT, "temperature": 0.5}, indent=2).encode()
        r = httpx.post(server.url + "/v1/chat/completions", content=raw)
        assert r.status_code == 200 and "secret plan" in r.text
    assert received == [{**CHAT, "temperature": 0.5}]


def test_websocket_and_lifespan_pass_through() -> None:
    import websockets.sync.client

    with (
        ServerThread(make_app(), lifespan="on") as server,
        websockets.sync.client.connect(server.url.replace("http", "ws") + "/ws") as ws,
    ):
        assert ws.recv() == "ws ok"
