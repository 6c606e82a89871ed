"""What all mock endpoints share: test controls, upstream headers, errors, SSE, the request log."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from guardgate.model import ApiKind
from guardgate.protocols.dialects import dialect_for
from guardgate.testing._mock_text import MockSigner

JsonObject = dict[str, object]

_LOG_LIMIT = 1000


class MockStreamAborted(RuntimeError):
    """Raised inside a stream body on purpose (`x-mock-fail: close-early`) so uvicorn drops it."""


@dataclass(frozen=True, slots=True)
class MockControls:
    """Test controls a request carries in its `x-mock-*` headers."""

    delay: float = 0.0
    chunk_delay: float = 0.0
    fail: str | None = None
    status: int | None = None
    reasoning_repeat: int = 1
    """How many times over the reasoning trace is written (a hostile, huge trace)."""

    @classmethod
    def from_headers(cls, headers: Headers) -> MockControls:
        """Read the controls; malformed values are ignored rather than failing the request."""
        return cls(
            delay=_float(headers.get("x-mock-delay")),
            chunk_delay=_float(headers.get("x-mock-chunk-delay")),
            fail=headers.get("x-mock-fail") or None,
            status=_int(headers.get("x-mock-status")),
            reasoning_repeat=max(1, _int(headers.get("x-mock-reasoning-repeat")) or 1),
        )


def _float(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the mock received it, for `GET /mock/requests`."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: object
    received_at: float

    def to_json(self) -> JsonObject:
        """The JSON shape served by `/mock/requests`; `headers` keeps the last value per name."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "header_list": [list(pair) for pair in self.headers],
            "body": self.body,
            "received_at": self.received_at,
        }


@dataclass(slots=True)
class MockState:
    """Per-app state of the mock: its signing key and the requests it has seen."""

    signer: MockSigner
    requests: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=_LOG_LIMIT))
    producers: dict[str, str] = field(default_factory=dict)
    """The model that made each thinking signature, newest last (Anthropic's model binding)."""

    def produced(self, signature: str, model: str) -> None:
        """Remember that `model` made `signature` (the oldest fall off after 10,000)."""
        self.producers[signature] = model
        if len(self.producers) > 10 * _LOG_LIMIT:
            del self.producers[next(iter(self.producers))]

    def record(self, request: Request, body: object) -> None:
        """Remember a request (the oldest fall off after the last 1,000)."""
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers=tuple(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ),
                body=body,
                received_at=time.time(),
            )
        )


def new_id(prefix: str) -> str:
    """A fresh provider-style id such as `chatcmpl-…`, `msg_…`, `resp_…`."""
    return f"{prefix}{uuid.uuid4().hex}"


def upstream_headers(api: ApiKind, *, remaining: int = 4999) -> dict[str, str]:
    """Headers a real provider sends with every answer, so proxies can be checked to pass them."""
    if api.is_anthropic:
        return {
            "request-id": new_id("req_"),
            "anthropic-organization-id": "6f0f7c32-0000-4000-8000-6d6f636b0001",
            "anthropic-ratelimit-requests-limit": "5000",
            "anthropic-ratelimit-requests-remaining": str(remaining),
            "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:00Z",
            "anthropic-ratelimit-tokens-limit": "800000",
            "anthropic-ratelimit-tokens-remaining": str(remaining * 160),
            "anthropic-ratelimit-tokens-reset": "2030-01-01T00:00:00Z",
            "x-mock-upstream": "guardgate",
        }
    return {
        "x-request-id": new_id("req_"),
        "openai-organization": "mock-org",
        "openai-processing-ms": "17",
        "openai-version": "2020-10-01",
        "x-ratelimit-limit-requests": "5000",
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": "12ms",
        "x-ratelimit-limit-tokens": "800000",
        "x-ratelimit-remaining-tokens": str(remaining * 160),
        "x-ratelimit-reset-tokens": "6ms",
        "x-mock-upstream": "guardgate",
    }


def error_response(api: ApiKind, status: int, message: str) -> Response:
    """An error in the provider's own format; a 429 carries rate-limit headers and Retry-After."""
    headers = upstream_headers(api, remaining=0 if status == 429 else 4999)
    if status == 429:
        headers["retry-after"] = "1"
    return Response(
        dialect_for(api).error_body(status, message), status, headers, "application/json"
    )


def json_response(api: ApiKind, payload: JsonObject, controls: MockControls) -> Response:
    """A successful non-stream answer; with `close-early`, half of it and a dropped connection."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = upstream_headers(api)
    if controls.fail != "close-early":
        return Response(body, 200, headers, "application/json")

    async def half() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise MockStreamAborted("x-mock-fail: close-early")

    # The promised length makes the cut visible to the client, as with a crashed upstream.
    headers["content-length"] = str(len(body))
    return StreamingResponse(half(), 200, headers, "application/json")


def sse_event(data: object, event: str | None = None) -> bytes:
    """One server-sent event; `data` is JSON-encoded unless it is already a string."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {text}\n\n".encode()


def sse_response(api: ApiKind, events: Sequence[bytes], controls: MockControls) -> Response:
    """A streamed answer, one event per chunk, honouring the chunk delay and `close-early`."""
    stop_at = len(events) // 2 if controls.fail == "close-early" else None

    async def body() -> AsyncIterator[bytes]:
        for index, event in enumerate(events):
            if index == stop_at:
                raise MockStreamAborted("x-mock-fail: close-early")
            if index and controls.chunk_delay:
                await asyncio.sleep(controls.chunk_delay)
            yield event

    headers = upstream_headers(api)
    headers["cache-control"] = "no-cache"
    return StreamingResponse(body(), 200, headers, "text/event-stream; charset=utf-8")


async def read_request(
    request: Request, api: ApiKind, state: MockState, required: Sequence[str] = ()
) -> tuple[JsonObject, MockControls] | Response:
    """Record the request, apply the delay and failure controls, and parse its JSON body.

    Returns the body and controls, or the error response to send instead (also when one of the
    `required` fields is missing, worded as the provider words it).
    """
    raw = await request.body()
    try:
        parsed: object = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    state.record(request, parsed if parsed is not None else raw.decode("utf-8", "replace"))
    controls = MockControls.from_headers(request.headers)
    if controls.delay:
        await asyncio.sleep(controls.delay)
    if controls.status is not None and controls.status >= 400:
        return error_response(api, controls.status, f"mock upstream status {controls.status}")
    if controls.fail == "500":
        return error_response(api, 500, "The server had an error while processing your request.")
    if not isinstance(parsed, dict):
        return error_response(api, 400, "We could not parse the JSON body of your request.")
    for name in required:
        if parsed.get(name) is None:
            message = (
                f"{name}: Field required"
                if api.is_anthropic
                else f"Missing required parameter: '{name}'."
            )
            return error_response(api, 400, message)
    return parsed, controls
