"""`TransformState`: a transformed answer fails closed.

Under strip and summarise, an answer guardgate cannot transform must not reach the client as it
came: it may hold the very trace the policy withholds. A whole JSON body is transformed at its
end, so its status line is held until then: an answer that cannot be read (cut off mid-body, not
JSON) becomes a 502 in the provider's format. A stream has sent its status already: it ends with
the provider's error event, as when the upstream breaks off, and nothing more of it is sent.
"""

from __future__ import annotations

import logging

from starlette.types import Message, Send

from guardgate.model import ApiKind
from guardgate.protocols.dialects import dialect_for
from guardgate.protocols.reasoning_base import BodyTransformer, ResponseTransformer

__all__ = ["REFUSED_MESSAGE", "TransformState"]

logger = logging.getLogger("guardgate")

REFUSED_MESSAGE = "The upstream API returned an answer that could not be processed."


class TransformState:
    """Per response: the held status line of a whole body, and whether the answer was refused."""

    __slots__ = ("closed", "held")

    def __init__(self) -> None:
        self.held: Message | None = None
        self.closed = False

    def hold_start(self, start: Message, transformer: ResponseTransformer | None) -> bool:
        """Keep `start` back when a whole body will be transformed; True when it was kept."""
        if isinstance(transformer, BodyTransformer):
            self.held = start
            return True
        return False

    async def release_start(self, send: Send, out: bytes, more: bool) -> None:
        """Send the held status line before the first transformed bytes (with their length
        when they are the whole body)."""
        start = self.held
        if start is None or (not out and more):
            return
        self.held = None
        headers = [(k, v) for k, v in start.get("headers", ()) if k != b"content-length"]
        if not more:
            headers.append((b"content-length", str(len(out)).encode()))
        await send({**start, "headers": headers})

    async def refuse(self, send: Send, api: ApiKind) -> None:
        """Answer the provider's error in place of an answer that could not be transformed."""
        self.closed = True
        logger.warning(
            "refused a %s answer the reasoning policy could not be applied to",
            "JSON" if self.held is not None else "stream",
        )
        if self.held is not None:
            self.held = None
            body = dialect_for(api).error_body(502, REFUSED_MESSAGE)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 502, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        event = dialect_for(api).error_event(502, REFUSED_MESSAGE)
        await send({"type": "http.response.body", "body": event, "more_body": False})
