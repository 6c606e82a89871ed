"""Shared machinery of the reasoning transforms: the transformer protocol, JSON buffering for
whole bodies, and SSE framing for streams.

Transformers fail closed: a whole body that cannot be read or rewritten raises `UnreadableAnswer`
(the door answers the provider's error instead of the raw body, which could hold the trace); an
event that cannot be read is dropped when it could carry reasoning and passed through otherwise.

What they hold is bounded by `TransformContext.max_held` bytes (`max_reasoning` times
`HELD_BYTES_PER_CHAR`): a whole JSON answer, or one SSE event, that grows past it raises
`UnreadableAnswer` at once (the client gets the provider's 502, or an error event that ends the
stream), never the raw bytes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from guardgate.hardening.sealing import Sealer
from guardgate.hardening.summariser import Summariser
from guardgate.model import ReasoningPolicy
from guardgate.protocols.sse import (
    SSEEvent,
    SSEEventTooLarge,
    SSEFrame,
    SSEFrameDecoder,
    encode_event,
)

__all__ = [
    "BodyTransformer",
    "ResponseTransformer",
    "StreamTransformer",
    "TransformContext",
    "UnreadableAnswer",
    "dump_json",
    "load_json_object",
]

logger = logging.getLogger("guardgate.protocols")

JsonObject = dict[str, Any]
DEFAULT_MAX_REASONING = 1 << 20
"""The default of `GUARDGATE_REASONING_BUFFER_CHARS`."""
HELD_BYTES_PER_CHAR = 8
"""Bytes of a whole answer or one event held per character of the reasoning cut-off: room for
a trace at the cut-off written as JSON (up to 6 bytes a character as a `\\u` escape) and the
answer beside it (8 MiB at the default cut-off)."""


class UnreadableAnswer(Exception):
    """A whole answer that must be transformed could not be read (cut off mid-body, not JSON,
    or a shape the transform does not know): it must not reach the client as it is."""


class ResponseTransformer(Protocol):
    """Rewrites an upstream response body that arrives in arbitrary chunks."""

    async def feed(self, chunk: bytes) -> bytes:
        """Take the next chunk; return the bytes that may go to the client now (maybe b"")."""
        ...

    async def finish(self) -> bytes:
        """End of body: return whatever is still held back."""
        ...


class TransformContext:
    """What a transform needs besides the bytes: the policy and the hardening tools."""

    __slots__ = (
        "max_held",
        "max_reasoning",
        "policy",
        "seal_chat_reasoning",
        "sealer",
        "summariser",
        "think_open",
    )

    def __init__(
        self,
        policy: ReasoningPolicy,
        sealer: Sealer,
        summariser: Summariser,
        think_open: bool = False,
        seal_chat_reasoning: bool = False,
        max_reasoning: int = DEFAULT_MAX_REASONING,
    ) -> None:
        self.policy = policy
        self.sealer = sealer
        self.summariser = summariser
        self.think_open = think_open
        self.seal_chat_reasoning = seal_chat_reasoning
        self.max_reasoning = max_reasoning
        """Most characters of one answer's reasoning held for a summary or a seal
        (`GUARDGATE_REASONING_BUFFER_CHARS`); beyond it the trace is dropped unread."""
        self.max_held = max_reasoning * HELD_BYTES_PER_CHAR
        """Most bytes of a whole JSON answer, or of one SSE event, held to be transformed."""

    @property
    def summarise(self) -> Callable[[str], Awaitable[str]] | None:
        """The summarising function under `summarise`, None under `strip`."""
        if self.policy is ReasoningPolicy.SUMMARISE:
            return self.summariser.summarise
        return None

    def seal_json(self, value: Any) -> str:
        """Seal a JSON value (the original block or item) into a token."""
        return self.sealer.seal(dump_json(value).encode())


def load_json_object(text: str | bytes) -> JsonObject | None:
    """The JSON object in `text`, or None when it is not one (never raises).

    Invalid UTF-8 is read as U+FFFD, as the SDKs read it (httpx decodes with "replace"): a stray
    byte must not make a body unparseable here, and so passed through with its reasoning.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def dump_json(value: Any) -> str:
    """Compact JSON as the providers send it (key order kept, non-ASCII unescaped).

    A lone surrogate (legal JSON as an escape, e.g. half an emoji cut by a tokenizer) cannot be
    encoded as UTF-8 unescaped, so such a value is written with escapes, as the upstream sent it.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii() and _SURROGATE.search(text):
        return json.dumps(value, separators=(",", ":"))
    return text


class BodyTransformer:
    """A whole (non-stream) JSON body: buffered, rewritten once at the end.

    Subclasses implement `rewrite`, which edits the parsed object in place and returns whether it
    changed anything; an unchanged body is returned byte for byte, an unparseable one raises
    `UnreadableAnswer`.
    """

    def __init__(self, ctx: TransformContext) -> None:
        self._ctx = ctx
        self._chunks: list[bytes] = []
        self._size = 0

    async def feed(self, chunk: bytes) -> bytes:
        """Hold the chunk: a JSON body must be whole to be rewritten (up to `max_held` bytes;
        past it `UnreadableAnswer`, and what was held is let go)."""
        self._size += len(chunk)
        if self._size > self._ctx.max_held:
            self._chunks.clear()
            raise UnreadableAnswer(f"the answer is larger than {self._ctx.max_held} bytes")
        self._chunks.append(chunk)
        return b""

    async def finish(self) -> bytes:
        """The rewritten body, or the original one when nothing changed; `UnreadableAnswer`
        when it is not a JSON object (e.g. cut off mid-body) or has a shape the transform does
        not know: passing it raw could hand out the very reasoning the policy withholds."""
        body = b"".join(self._chunks)
        self._chunks.clear()
        payload = load_json_object(body)
        if payload is None:
            raise UnreadableAnswer("the answer is not a whole JSON object")
        try:
            changed = await self.rewrite(payload)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            logger.warning("reasoning transform met an unexpected body shape", exc_info=True)
            raise UnreadableAnswer("the answer has an unexpected shape") from exc
        return dump_json(payload).encode() if changed else body

    async def rewrite(self, payload: JsonObject) -> bool:
        """Edit `payload` in place; return whether anything changed."""
        raise NotImplementedError


class StreamTransformer:
    """An SSE stream: frames are decoded incrementally and handed to `on_event`.

    `on_event` returns the bytes to send for that event: usually `frame.raw` untouched, or
    re-encoded events, or nothing. Frames without an event (comments) pass through verbatim.
    """

    reasoning_markers: tuple[bytes, ...] = ()
    """Byte strings that mark an event as carrying reasoning, so that it is never passed through
    when it could not be transformed."""

    def __init__(self, ctx: TransformContext) -> None:
        self._ctx = ctx
        self._decoder = SSEFrameDecoder(max_event=ctx.max_held)

    async def feed(self, chunk: bytes) -> bytes:
        """Transform the events this chunk completes; `UnreadableAnswer` when one event grows
        past `max_held` bytes (it could be a whole reasoning item)."""
        try:
            frames = self._decoder.decode(chunk)
        except SSEEventTooLarge as exc:
            raise UnreadableAnswer(str(exc)) from exc
        return await self._handle(frames)

    async def finish(self) -> bytes:
        """Transform a last unterminated event, then whatever `on_end` still holds."""
        out = await self._handle(self._decoder.flush())
        try:
            return out + await self.on_end()
        except Exception:
            logger.warning("reasoning transform failed at end of stream", exc_info=True)
            return out

    async def _handle(self, frames: list[SSEFrame]) -> bytes:
        out: list[bytes] = []
        for frame in frames:
            if frame.event is None:
                out.append(frame.raw)
                continue
            try:
                out.append(await self.on_event(frame, frame.event))
            except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                logger.warning("reasoning transform passed an unexpected event", exc_info=True)
                out.append(await self.on_unexpected(frame))
        return b"".join(out)

    async def on_event(self, frame: SSEFrame, event: SSEEvent) -> bytes:
        """The bytes to send for one event."""
        raise NotImplementedError

    async def on_unexpected(self, frame: SSEFrame) -> bytes:
        """An event `on_event` could not handle: passed through unless it is reasoning."""
        if any(marker in frame.raw for marker in self.reasoning_markers):
            return b""
        return frame.raw

    async def on_end(self) -> bytes:
        """Bytes still held at the end of the stream."""
        return b""

    @staticmethod
    def encode(event: SSEEvent, payload: JsonObject) -> bytes:
        """Re-encode an event with a changed JSON payload, keeping its event name and id."""
        return encode_event(SSEEvent(dump_json(payload), event.event, event.id, event.retry))
