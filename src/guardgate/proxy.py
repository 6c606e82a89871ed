"""`UpstreamProxy`: the sidecar's reverse proxy, a pure ASGI app over one pooled httpx client.

Bodies stream both ways; hop-by-hop headers are dropped; status and headers come back as the
upstream sent them. A client that disconnects cancels the upstream request at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.types import Message, Receive, Scope, Send

from guardgate.middleware import send_error
from guardgate.model import ApiKind
from guardgate.protocols.endpoints import api_for_error, error_body
from guardgate.settings import GuardgateSettings

logger = logging.getLogger("guardgate.proxy")

# RFC 9110 section 7.6.1 connection-specific fields, plus those the proxy recomputes itself.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)
_RESPONSE_DROP = _HOP_BY_HOP | {b"date", b"server"}


def build_client(settings: GuardgateSettings) -> httpx.AsyncClient:
    """The pooled client the sidecar forwards through (keep-alive, bounded pool, no retries)."""
    transport: httpx.AsyncBaseTransport
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections,
        max_keepalive_connections=settings.upstream_max_keepalive,
        keepalive_expiry=30.0,
    )
    transport = httpx.AsyncHTTPTransport(limits=limits, retries=0)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(
            connect=settings.upstream_connect_timeout,
            read=settings.upstream_read_timeout,
            write=settings.upstream_read_timeout,
            pool=settings.upstream_connect_timeout,
        ),
        follow_redirects=False,
        trust_env=False,
    )


class _Disconnected(Exception):
    """The client went away while the upstream was still answering."""


class UpstreamProxy:
    """Forwards every HTTP request to `settings.upstream_url`, streaming both ways."""

    def __init__(self, settings: GuardgateSettings) -> None:
        self.settings = settings
        base = httpx.URL(settings.upstream_url)
        self._origin = f"{base.scheme}://{base.netloc.decode('ascii')}"
        self._base_path = base.raw_path.decode("ascii").rstrip("/")
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the connection pool (called from the sidecar's lifespan)."""
        if self.client is None:
            self.client = build_client(self.settings)

    async def close(self) -> None:
        """Close the connection pool."""
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        if self.client is None:
            await self.start()
        assert self.client is not None
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = self._origin + self._base_path + path.decode("latin-1")
        if query:
            url += "?" + query.decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k not in _HOP_BY_HOP]
        api = api_for_error(scope["path"])

        first = await receive()
        if first["type"] == "http.disconnect":
            return
        content: bytes | AsyncIterator[bytes]
        body_complete = not first.get("more_body", False)
        content = first.get("body", b"") if body_complete else self._body_stream(first, receive)

        request = self.client.build_request(scope["method"], url, headers=headers, content=content)
        current = asyncio.current_task()
        assert current is not None
        watch = _DisconnectWatch(receive, current)
        if body_complete:
            watch.start()
        try:
            await self._exchange(request, send, api, watch)
        except asyncio.CancelledError:
            if watch.fired:
                current.uncancel()  # our own cancellation: the client left
                return
            raise
        finally:
            watch.stop()

    async def _body_stream(self, first: Message, receive: Receive) -> AsyncIterator[bytes]:
        yield first.get("body", b"")
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    async def _exchange(
        self,
        request: httpx.Request,
        send: Send,
        api: ApiKind,
        watch: _DisconnectWatch,
    ) -> None:
        assert self.client is not None
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            await send_error(send, api, 504, "The upstream API did not answer in time.")
            return
        except (httpx.TransportError, _Disconnected) as exc:
            if isinstance(exc, _Disconnected) or isinstance(exc.__cause__, _Disconnected):
                return
            await send_error(send, api, 502, "The upstream API could not be reached.")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k, v) for k, v in response.headers.raw if k.lower() not in _RESPONSE_DROP
                    ],
                }
            )
            watch.start()
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError:
                # The upstream broke off after the status line was sent: tell an SSE client in
                # its provider's own error event, so SDKs raise instead of seeing a clean end.
                logger.warning("upstream stream broke off: %s %s", request.method, request.url.path)
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    await send(
                        {
                            "type": "http.response.body",
                            "body": _sse_error(api),
                            "more_body": True,
                        }
                    )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with contextlib.suppress(Exception):
                await response.aclose()


class _DisconnectWatch:
    """Cancels the forwarding task when the client disconnects, so the upstream request (and
    its pooled connection) is released at once instead of running to completion."""

    __slots__ = ("_receive", "_target", "_task", "fired")

    def __init__(self, receive: Receive, target: asyncio.Task[object]) -> None:
        self._receive = receive
        self._target = target
        self._task: asyncio.Task[None] | None = None
        self.fired = False

    def start(self) -> None:
        """Start listening; call only once the request body has been read."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.fired = True
                self._target.cancel()
                return


def _sse_error(api: ApiKind) -> bytes:
    body = error_body(api, 502, "The upstream API closed the stream early.")
    if api.is_anthropic:
        return b"event: error\ndata: " + body + b"\n\n"
    return b"data: " + body + b"\n\n"
