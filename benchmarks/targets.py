"""Servers the benchmarks measure, each run in its own process: `python benchmarks/targets.py KIND
PORT [UPSTREAM_URL]`.

- `bare`: a minimal OpenAI-compatible app (fixed chat completion JSON, or a short SSE stream
  when the request asks for one): the fastest upstream there can be, so every cost added shows.
- `mock`: guardgate's mock LLM upstream (a Starlette app that writes real answers): a realistic
  stand-in for an LLM server's HTTP layer.
- `middleware`, `middleware-mock`: `bare` / `mock` with `GuardgateMiddleware` mounted (settings
  from the environment: `GUARDGATE_REDIS_URL` selects Redis state).
- `starlette`: the bare answers from a Starlette `Route` endpoint (slowapi's baseline).
- `slowapi`: `starlette` behind slowapi's ASGI middleware limiting per API key (the peer; the
  limit is `BENCH_SLOWAPI_LIMIT`, default never reached). A `Route`, not a `Mount`: slowapi finds
  no endpoint in a `Mount` and exempts it silently.
- `sidecar`: `guardgate serve`'s app forwarding to UPSTREAM_URL.
- `proxy`: the sidecar's `UpstreamProxy` alone (no middleware): what judging costs on top.
- `floor`: a raw-ASGI pass-through to UPSTREAM_URL over one pooled aiohttp session, judging
  nothing: what any Python sidecar costs before it does any work.

`BENCH_WARM_ACCOUNTS=N` (guardgate targets): before the server reports itself started, N
requests with N distinct API keys go through the app in process, so the engine tracks N
accounts (real state, made by the real request path) when the load starts; `POST
/_bench/warm?to=M` then adds accounts up to M.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "mock-reasoning-content",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": "First I restate the problem. Then I check each step.",
                    "content": "The answer is 391.",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32},
    }
).encode()


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "mock-reasoning-content",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


_STREAM = [
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"reasoning_content": f"Step {i}: I check the next part. "}) for i in range(8)),
    *(_chunk({"content": w}) for w in ("The ", "answer ", "is ", "391.")),
    _chunk({}, "stop"),
    b"data: [DONE]\n\n",
]


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The minimal upstream."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if b'"stream":true' in body.replace(b" ", b""):
        headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for piece in _STREAM:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_COMPLETION)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _COMPLETION, "more_body": False})


def starlette_app() -> object:
    """The bare answers from a Starlette `Route` endpoint."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    async def chat(request: Request) -> Response:
        body = await request.body()
        if b'"stream":true' in body.replace(b" ", b""):

            async def events() -> object:
                for piece in _STREAM:
                    yield piece

            return StreamingResponse(events(), media_type="text/event-stream")  # type: ignore[arg-type]
        return Response(_COMPLETION, media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def fastapi_app() -> object:
    """An OpenAI-compatible FastAPI app: pydantic request and response models, as the frontends
    of vLLM and SGLang are built (without their tokenisation, scheduling and detokenisation)."""
    from typing import Literal

    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse
    from pydantic import BaseModel

    class ChatMessage(BaseModel):
        role: Literal["system", "user", "assistant", "tool", "developer"]
        content: str | list[dict[str, Any]] | None = None
        name: str | None = None

    class ChatRequest(BaseModel):
        model: str
        messages: list[ChatMessage]
        max_tokens: int | None = None
        temperature: float | None = None
        top_p: float | None = None
        stream: bool = False
        n: int = 1
        stop: str | list[str] | None = None
        logprobs: bool = False
        tools: list[dict[str, Any]] | None = None
        user: str | None = None

    class AssistantMessage(BaseModel):
        role: Literal["assistant"] = "assistant"
        content: str
        reasoning_content: str | None = None

    class Choice(BaseModel):
        index: int
        message: AssistantMessage
        finish_reason: str

    class Usage(BaseModel):
        prompt_tokens: int
        completion_tokens: int
        total_tokens: int

    class ChatResponse(BaseModel):
        id: str
        object: Literal["chat.completion"] = "chat.completion"
        created: int
        model: str
        choices: list[Choice]
        usage: Usage

    answer = json.loads(_COMPLETION)
    app = FastAPI()

    async def chat(request: ChatRequest) -> object:
        if request.stream:

            async def events() -> Any:
                for piece in _STREAM:
                    yield piece

            return StreamingResponse(events(), media_type="text/event-stream")
        return ChatResponse(**{**answer, "model": request.model})

    # This module's annotations are strings, which FastAPI resolves in module globals only.
    chat.__annotations__ = {"request": ChatRequest, "return": object}
    app.post("/v1/chat/completions", response_model=None)(chat)
    return app


def floor_app(upstream: str) -> object:
    """The pass-through floor: every request forwarded as is, the answer streamed back."""
    import aiohttp

    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["s"] = aiohttp.ClientSession(auto_decompress=False)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["s"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k != b"host"]
        url = upstream + scope["raw_path"].decode()
        async with state["s"].request(scope["method"], url, data=body, headers=headers) as r:
            out = [(k.lower(), v) for k, v in r.raw_headers if k.lower() != b"transfer-encoding"]
            await send({"type": "http.response.start", "status": r.status, "headers": out})
            async for piece in r.content.iter_any():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def proxy_app(upstream: str) -> object:
    """The sidecar's own reverse proxy (`UpstreamProxy`) alone, without the middleware."""
    from guardgate.proxy import UpstreamProxy
    from guardgate.settings import load_settings

    proxy = UpstreamProxy(load_settings(upstream_url=upstream))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await proxy.start()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await proxy.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await proxy(scope, receive, send)

    return app


def warmed(app: Any, accounts: int) -> Any:
    """`app`, which sends one request per account (distinct API keys) through itself once it
    has started and before it tells the server so."""
    body = json.dumps(
        {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": "Hi"}]}
    ).encode()

    async def one(i: int) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"authorization", b"Bearer sk-warm-%08d" % i),
                (b"user-agent", b"OpenAI/Python 1.%d.0" % (i % 40)),
            ],
            "client": (f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", 40000),
            "server": ("127.0.0.1", 80),
        }
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    warmed_to = 0

    async def warm(to: int) -> None:
        nonlocal warmed_to
        started = time.perf_counter()
        codes: dict[int, int] = {}
        for start in range(warmed_to, to, 32):
            batch = range(start, min(start + 32, to))
            for code in await asyncio.gather(*(one(i) for i in batch)):
                codes[code] = codes.get(code, 0) + 1
        took = time.perf_counter() - started
        print(f"warmed {warmed_to}..{to} in {took:.0f} s: {codes}", file=sys.stderr, flush=True)
        warmed_to = max(warmed_to, to)

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/_bench/warm":
            # More accounts, now: `POST /_bench/warm?to=N` (the board's 10k -> 100k step).
            await warm(int(scope["query_string"].decode().removeprefix("to=")))
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": str(warmed_to).encode()})
            return
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        answered = False

        async def send_later(message: dict[str, Any]) -> None:
            nonlocal answered
            answered = True
            if message["type"] == "lifespan.startup.complete":
                await warm(accounts)
            await send(message)

        await app(scope, receive, send_later)
        if not answered:  # an app without a lifespan (the bare app under the middleware)
            await receive()
            await warm(accounts)
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})

    return wrapper


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    flush = os.environ.get("BENCH_DETECTOR_FLUSH")
    if flush is not None:
        # Under valgrind (bench_instructions): signals go to the detector in frames as full as
        # at full speed, whatever the machine's load (see bench_instructions.count).
        from guardgate.detector import _process

        _process.FLUSH_EVERY = float(flush)
    app: object
    if kind == "bare":
        app = bare_app
    elif kind == "mock":
        from guardgate.testing import create_mock_upstream

        app = create_mock_upstream()
    elif kind == "starlette":
        app = starlette_app()
    elif kind == "fastapi":
        app = fastapi_app()
    elif kind == "slowapi":
        # The well-known peer for the rate-limit part: slowapi's pure-ASGI middleware limiting
        # per API key, in front of a Starlette route.
        from slowapi import Limiter
        from slowapi.middleware import SlowAPIASGIMiddleware
        from starlette.requests import Request

        def key(request: Request) -> str:
            return request.headers.get("authorization", "")

        limited = starlette_app()
        limit = os.environ.get("BENCH_SLOWAPI_LIMIT", "100000000/minute")
        limited.state.limiter = Limiter(key_func=key, default_limits=[limit])  # type: ignore[attr-defined]
        # Added inside Starlette (slowapi reads the app from the scope Starlette sets).
        limited.add_middleware(SlowAPIASGIMiddleware)  # type: ignore[attr-defined]
        app = limited
    elif kind in ("middleware", "middleware-mock", "middleware-fastapi"):
        from guardgate.middleware import GuardgateMiddleware
        from guardgate.testing import create_mock_upstream

        if kind == "middleware":
            app = GuardgateMiddleware(bare_app)
        elif kind == "middleware-mock":
            app = GuardgateMiddleware(create_mock_upstream())
        else:
            fastapi = fastapi_app()
            # As an operator mounts it: `app.add_middleware(GuardgateMiddleware)`.
            fastapi.add_middleware(GuardgateMiddleware)  # type: ignore[attr-defined]
            app = fastapi
    elif kind == "sidecar":
        from guardgate.settings import load_settings
        from guardgate.sidecar import create_app

        app = create_app(load_settings(upstream_url=sys.argv[3]))
    elif kind == "floor":
        app = floor_app(sys.argv[3])
    elif kind == "proxy":
        app = proxy_app(sys.argv[3])
    else:
        raise SystemExit(f"unknown target {kind}")
    accounts = os.environ.get("BENCH_WARM_ACCOUNTS")
    if accounts is not None and kind not in (
        "bare",
        "mock",
        "starlette",
        "fastapi",
        "slowapi",
        "floor",
    ):
        app = warmed(app, int(accounts))
    uvicorn.run(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()
