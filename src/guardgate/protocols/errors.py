"""Answering an error in the provider's own format (a door's rejections, the proxy's faults)."""

from __future__ import annotations

from starlette.types import Send

from guardgate.model import ApiKind
from guardgate.protocols.dialects import dialect_for

__all__ = ["send_error"]

_JSON_HEADERS = [(b"content-type", b"application/json")]


async def send_error(
    send: Send,
    api: ApiKind,
    status: int,
    message: str,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """Answer with an error in the provider's own format for `api`."""
    body = dialect_for(api).error_body(status, message)
    raw = [
        *_JSON_HEADERS,
        (b"content-length", str(len(body)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})
