"""`AccessLog`: one line per HTTP request the sidecar answered (`GUARDGATE_ACCESS_LOG=true`).

The line holds the method, the path without its query string (a query can hold an API key),
the status, the duration and the response body bytes; never a header, an account or a key.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

logger = logging.getLogger("guardgate.access")


class AccessLog:
    """Pure ASGI middleware that logs each HTTP request once it has been answered (or dropped:
    status 0 when the client went away before a response began)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        sent = 0

        async def counted(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            query = "?[redacted]" if scope.get("query_string") else ""
            logger.info(
                "%s %s%s %d %.1fms %dB",
                scope["method"],
                scope["path"],
                query,
                status,
                (time.perf_counter() - started) * 1000,
                sent,
            )
