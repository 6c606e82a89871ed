"""`receive_by`: the next ASGI message under a deadline, without paying for a timer when the
message is already there.

Why it is stepped by hand: a request body nearly always arrives with its headers, so the server's
`receive` coroutine returns at its first step; putting every receive under `asyncio.timeout`
costs about 5 µs a request (a timer handle scheduled and cancelled), a measurable share of the
request path. So the coroutine is stepped once; only when it suspends is the rest awaited (with
`await` semantics, cancellation passed in) under the deadline, which is set at the first wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Generator
from types import CoroutineType
from typing import Any

from starlette.types import Message, Receive

__all__ = ["receive_by"]


async def receive_by(receive: Receive, deadline: float, within: float) -> tuple[Message, float]:
    """The next ASGI message, or TimeoutError past `deadline` (event-loop time; 0 for `within`
    seconds from the first wait), with the deadline in force."""
    awaitable = receive()
    rest: Awaitable[Message] = awaitable
    if isinstance(awaitable, CoroutineType):
        try:
            waiting_on = awaitable.send(None)
        except StopIteration as done:
            message: Message = done.value
            return message, deadline
        rest = _Resumed(awaitable, waiting_on)
    if not deadline:
        deadline = asyncio.get_running_loop().time() + within
    async with asyncio.timeout_at(deadline):
        return await rest, deadline


class _Resumed:
    """Awaits a coroutine that was stepped once and is suspended on `waiting_on`: what
    `await` would do from there (`yield from` semantics, cancellation passed in)."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Message], waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Message]:
        coro = self.coro
        pending = self.waiting_on
        try:
            while True:
                try:
                    value = yield pending
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    pending = coro.throw(exc)
                else:
                    pending = coro.send(value)
        except StopIteration as done:
            message: Message = done.value
            return message
        finally:
            coro.close()  # a no-op once it has returned or raised


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app `body` whole as its one request message, then passes on
    what the client's `receive` says (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
