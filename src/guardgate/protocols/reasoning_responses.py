"""Reasoning in OpenAI Responses: `reasoning` output items and `response.reasoning_*` events.

A reasoning item keeps its place (`output_index`) and its `id`, so the client's item list, the
SDK's accumulator and tool loops that send items back stay valid. Its summary and content are
emptied (strip) or replaced by a short summary (summarise), and the original item is sealed into
`encrypted_content`, from where the next request restores it byte for byte (the dialect's
`restore_sealed`). Every `response.reasoning_*` stream event is dropped; under summarise, a few
events carrying the summary are sent just before the item's `response.output_item.done`.
`sequence_number`s are renumbered densely after any change.
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

__all__ = ["ResponsesBodyTransformer", "ResponsesStreamTransformer", "hide_reasoning_item"]

_HIDDEN_KEYS = ("summary", "content", "encrypted_content")


def _texts(parts: Any) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


async def hide_reasoning_item(item: JsonObject, ctx: TransformContext) -> JsonObject:
    """The item the client gets in place of a complete reasoning item."""
    summary_texts, content_texts = _texts(item.get("summary")), _texts(item.get("content"))
    trace = "\n\n".join(summary_texts or content_texts).strip()
    summary = ""
    if ctx.summarise is not None and trace:
        summary = await ctx.summarise(trace)
    hidden: JsonObject = {}
    for key, value in item.items():
        if key not in _HIDDEN_KEYS:
            hidden[key] = value
        elif key == "summary":
            in_summary = summary and (summary_texts or not content_texts)
            hidden[key] = [{"type": "summary_text", "text": summary}] if in_summary else []
        elif key == "content" and summary and content_texts and not summary_texts:
            hidden[key] = [{"type": "reasoning_text", "text": summary}]
    hidden.setdefault("summary", [])
    hidden["encrypted_content"] = ctx.seal_json(item)
    return hidden


class ResponsesBodyTransformer(BodyTransformer):
    """A whole `response` object."""

    async def rewrite(self, payload: JsonObject) -> bool:
        """Hide every reasoning item of `output`."""
        return await _hide_output(payload, self._ctx, {})


async def _hide_output(
    response: JsonObject, ctx: TransformContext, cache: dict[str, JsonObject]
) -> bool:
    output = response.get("output")
    if not isinstance(output, list):
        return False
    changed = False
    for i, item in enumerate(output):
        if isinstance(item, dict) and item.get("type") == "reasoning":
            key = item.get("id")
            hidden = cache.get(key) if isinstance(key, str) else None
            output[i] = hidden if hidden is not None else await hide_reasoning_item(item, ctx)
            changed = True
    return changed


class ResponsesStreamTransformer(StreamTransformer):
    """A Responses event stream."""

    reasoning_markers = (b"reasoning",)

    def __init__(self, ctx: TransformContext) -> None:
        super().__init__(ctx)
        self._shift = 0
        """Events added minus events dropped so far: added to every later sequence_number."""
        self._hidden: dict[str, JsonObject] = {}
        """Hidden items by id, so that the same sealed token is sent in every event."""
        self._reasoning_indices: set[Any] = set()
        """Output indices of reasoning items, whose content events (e.g. `content_part` events
        with `reasoning_text` parts) are dropped whatever their type."""

    def _inside_reasoning(self, payload: JsonObject, kind: str) -> bool:
        if kind.startswith("response.output_item."):
            return False
        part = payload.get("part")
        if isinstance(part, dict) and part.get("type") in ("reasoning_text", "summary_text"):
            return True
        return "output_index" in payload and payload["output_index"] in self._reasoning_indices

    async def on_event(self, frame: SSEFrame, event: SSEEvent) -> bytes:
        """Drop reasoning events, hide reasoning items, renumber."""
        if self._shift == 0 and b"reasoning" not in frame.raw:
            return frame.raw
        payload = load_json_object(event.data)
        if payload is None:
            return await self.on_unexpected(frame)
        kind = payload.get("type")
        if not isinstance(kind, str):
            return await self.on_unexpected(frame)
        if kind.startswith("response.reasoning_") or self._inside_reasoning(payload, kind):
            self._shift -= 1
            return b""
        extra: list[JsonObject] = []
        changed = False
        item = payload.get("item")
        if isinstance(item, dict) and item.get("type") == "reasoning":
            if kind == "response.output_item.done":
                hidden = await hide_reasoning_item(item, self._ctx)
                if isinstance(item.get("id"), str):
                    self._hidden[item["id"]] = hidden
                extra = _summary_events(payload, hidden)
                payload["item"] = hidden
            else:
                self._reasoning_indices.add(payload.get("output_index"))
                # The added item may carry partial text or a partial encrypted_content.
                added = {k: v for k, v in item.items() if k not in _HIDDEN_KEYS[1:]}
                added["summary"] = []
                payload["item"] = added
            changed = True
        response = payload.get("response")
        if isinstance(response, dict):
            changed = await _hide_output(response, self._ctx, self._hidden) or changed
        sequence = payload.get("sequence_number")
        if isinstance(sequence, int):
            # Summary events take the numbers just before this event's.
            for n, extra_event in enumerate(extra):
                extra_event["sequence_number"] = sequence + self._shift + n
            self._shift += len(extra)
            if self._shift:
                payload["sequence_number"] = sequence + self._shift
                changed = True
        if not changed:
            return frame.raw
        added_events = b"".join(self.encode(SSEEvent("", event=e["type"]), e) for e in extra)
        return added_events + self.encode(event, payload)


def _summary_events(done: JsonObject, hidden: JsonObject) -> list[JsonObject]:
    """Events that stream a hidden item's summary, as the upstream would have streamed it."""
    where = {"item_id": hidden.get("id", ""), "output_index": done.get("output_index", 0)}
    summary = _texts(hidden.get("summary"))
    if summary:
        text = summary[0]
        return [
            {
                "type": "response.reasoning_summary_part.added",
                **where,
                "summary_index": 0,
                "part": {"type": "summary_text", "text": ""},
            },
            {
                "type": "response.reasoning_summary_text.delta",
                **where,
                "summary_index": 0,
                "delta": text,
            },
            {
                "type": "response.reasoning_summary_text.done",
                **where,
                "summary_index": 0,
                "text": text,
            },
            {
                "type": "response.reasoning_summary_part.done",
                **where,
                "summary_index": 0,
                "part": {"type": "summary_text", "text": text},
            },
        ]
    content = _texts(hidden.get("content"))
    if content:
        text = content[0]
        return [
            {"type": "response.reasoning_text.delta", **where, "content_index": 0, "delta": text},
            {"type": "response.reasoning_text.done", **where, "content_index": 0, "text": text},
        ]
    return []
