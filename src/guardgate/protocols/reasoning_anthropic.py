"""Reasoning in Anthropic Messages: `thinking` content blocks and their stream deltas.

A hidden thinking block keeps its place (its `index`), so every later block's index and the
SDK's accumulator stay valid, and it still carries the original block sealed, because a tool loop
must send the thinking block back with its signature:

- strip: `{"type": "redacted_thinking", "data": <sealed original>}`;
- summarise: `{"type": "thinking", "thinking": <summary>, "signature": <sealed original>}`: the
  client reads a summary where it expects thinking, and the signature it echoes back restores the
  original block (see `restore_sealed` in `guardgate.protocols.dialects`).

Genuine `redacted_thinking` blocks from the upstream are passed as they are. In a stream, a
thinking block's events are held from its `content_block_start` to its `content_block_stop` and
replaced by the hidden block's events there; all other events pass through byte for byte.
"""

from __future__ import annotations

from typing import Any

from guardgate.protocols.reasoning_base import (
    BodyTransformer,
    JsonObject,
    StreamTransformer,
    TransformContext,
    load_json_object,
)
from guardgate.protocols.sse import SSEEvent, SSEFrame

__all__ = ["AnthropicBodyTransformer", "AnthropicStreamTransformer", "hide_thinking_block"]


async def hide_thinking_block(block: JsonObject, ctx: TransformContext) -> JsonObject:
    """The block the client gets in place of a complete thinking block."""
    sealed = ctx.seal_json(block)
    summarise = ctx.summarise
    trace = block.get("thinking")
    if summarise is not None and isinstance(trace, str) and trace.strip():
        return {"type": "thinking", "thinking": await summarise(trace), "signature": sealed}
    return {"type": "redacted_thinking", "data": sealed}


class AnthropicBodyTransformer(BodyTransformer):
    """A whole `message` object."""

    async def rewrite(self, payload: JsonObject) -> bool:
        """Replace every thinking block by its hidden form."""
        content = payload.get("content")
        if not isinstance(content, list):
            return False
        changed = False
        for i, block in enumerate(content):
            if isinstance(block, dict) and block.get("type") == "thinking":
                content[i] = await hide_thinking_block(block, self._ctx)
                changed = True
        return changed


class AnthropicStreamTransformer(StreamTransformer):
    """A Messages event stream."""

    reasoning_markers = (b"thinking", b"signature_delta")

    def __init__(self, ctx: TransformContext) -> None:
        super().__init__(ctx)
        self._held: dict[int, JsonObject] = {}
        """Thinking blocks being accumulated, by content block index."""
        self._thinking: dict[int, list[str]] = {}
        """Their thinking text in pieces (joined once at the block's end: adding each delta to
        one string would copy the whole trace per delta, quadratic in its length)."""
        self._room: dict[int, int] = {}
        """Characters each held block may still take before the cut-off (`max_reasoning`)."""

    async def on_event(self, frame: SSEFrame, event: SSEEvent) -> bytes:
        """Hold thinking block events; emit the hidden block when it stops."""
        raw = frame.raw
        if not self._held and b"thinking" not in raw:
            return raw  # cheap path: most events are text deltas
        payload = load_json_object(event.data)
        if payload is None:
            return await self.on_unexpected(frame)
        kind = payload.get("type")
        index = payload.get("index")
        if kind == "content_block_start":
            block = payload.get("content_block")
            if (
                isinstance(block, dict)
                and block.get("type") == "thinking"
                and isinstance(index, int)
            ):
                self._held[index] = dict(block)
                first = str(block.get("thinking") or "")
                self._thinking[index] = [first]
                self._room[index] = self._ctx.max_reasoning - len(first)
                return b""
            return raw
        if not isinstance(index, int) or index not in self._held:
            return raw
        held = self._held[index]
        if kind == "content_block_delta":
            delta: dict[str, Any] = payload.get("delta") or {}
            if delta.get("type") == "thinking_delta":
                text = str(delta.get("thinking", ""))
                room = self._room[index] - len(text)
                self._room[index] = room
                if room >= 0:
                    self._thinking[index].append(text)
                else:
                    # Past the cut-off the trace is dropped unread: memory stays bounded. The
                    # block can no longer be restored byte for byte (its signature binds the
                    # whole text), so it is handed out redacted with nothing to restore.
                    self._thinking[index].clear()
            elif delta.get("type") == "signature_delta":
                held["signature"] = delta.get("signature", "")
            return b""
        if kind == "content_block_stop":
            del self._held[index]
            text = "".join(self._thinking.pop(index))
            if self._room.pop(index) < 0:
                hidden: JsonObject = {"type": "redacted_thinking", "data": ""}
            else:
                held["thinking"] = text
                hidden = await hide_thinking_block(held, self._ctx)
            return self._emit_block(index, hidden) + raw
        return raw

    def _emit_block(self, index: int, block: JsonObject) -> bytes:
        if block["type"] == "redacted_thinking":
            return self._event("content_block_start", {"index": index, "content_block": block})
        start = self._event(
            "content_block_start",
            {
                "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        )
        thinking = self._event(
            "content_block_delta",
            {"index": index, "delta": {"type": "thinking_delta", "thinking": block["thinking"]}},
        )
        signature = self._event(
            "content_block_delta",
            {"index": index, "delta": {"type": "signature_delta", "signature": block["signature"]}},
        )
        return start + thinking + signature

    def _event(self, kind: str, fields: JsonObject) -> bytes:
        return self.encode(SSEEvent("", event=kind), {"type": kind, **fields})

    async def on_end(self) -> bytes:
        """A stream cut inside a thinking block: the unfinished block is withheld."""
        self._held.clear()
        self._thinking.clear()
        self._room.clear()
        self._thinking.clear()
        return b""
