"""How the middleware reads a request body: whatever way the server's `receive` delivers it, and
within `GUARDGATE_BODY_READ_TIMEOUT`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from guardgate import GuardgateMiddleware
from guardgate.settings import GuardgateSettings

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi there"}]}).encode()


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the body it was given."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def middleware() -> GuardgateMiddleware:
    settings = GuardgateSettings(secret="body-test-secret-0123456789", body_read_timeout=0.3)
    return GuardgateMiddleware(echo_app, settings)


async def call(receive: Callable[[], Awaitable[Message]]) -> tuple[int, bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", b"Bearer sk-1"), (b"content-type", b"application/json")],
        "client": ("203.0.113.9", 5000),
    }
    await middleware()(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def chunked(pause: float) -> Callable[[], Awaitable[Message]]:
    """A coroutine `receive` giving BODY in three pieces, waiting `pause` before each."""
    pieces = [BODY[:10], BODY[10:20], BODY[20:]]

    async def receive() -> Message:
        await asyncio.sleep(pause)
        if not pieces:
            await asyncio.sleep(3600)
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    return receive


@pytest.mark.parametrize("pause", [0.0, 0.01])
async def test_body_arriving_in_pieces_is_forwarded_whole(pause: float) -> None:
    assert await call(chunked(pause)) == (200, BODY)


async def test_receive_returning_a_future_is_read_too() -> None:
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]

    def receive() -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        if messages:
            asyncio.get_running_loop().call_later(0.01, future.set_result, messages.pop())
        return future

    assert await call(receive) == (200, BODY)


async def test_body_slower_than_the_timeout_is_408_in_time() -> None:
    started = asyncio.get_running_loop().time()
    status, body = await call(chunked(0.2))  # three pieces of 0.2 s against 0.3 s
    assert status == 408
    assert b"Timed out waiting for the request body" in body
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_cancelled_while_waiting_for_the_body_is_cancelled_not_408() -> None:
    waiting = asyncio.Event()
    closed: list[bool] = []

    async def receive() -> Message:
        waiting.set()
        try:
            await asyncio.sleep(3600)
        finally:
            closed.append(True)
        raise AssertionError("unreachable")

    task = asyncio.ensure_future(call(receive))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]
