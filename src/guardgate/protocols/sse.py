"""Server-sent events: an incremental bytes -> events decoder and an event -> bytes encoder.

Follows the WHATWG event-stream rules: lines end in `\\r\\n`, `\\r` or `\\n` (and nothing else,
unlike `str.splitlines`), a blank line ends an event, lines starting with `:` are comments, and a
`\\r` at the very end of a chunk is held until the next chunk tells whether a `\\n` follows.

Two levels are offered. `SSEDecoder` yields parsed `SSEEvent`s. `SSEFrameDecoder` also yields each
event's original bytes (comments included), so that a transform can pass untouched events through
byte for byte and re-encode only the events it changes.
"""

from __future__ import annotations

import re

from guardgate.records import record

__all__ = ["SSEDecoder", "SSEEvent", "SSEFrame", "SSEFrameDecoder", "encode_event"]

_LINE_END = re.compile(rb"\r\n|\r|\n")
_TEXT_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@record
class SSEEvent:
    """One dispatched server-sent event.

    `id` is the id field given in this event only (not the stream's running last-event-id), so
    that re-encoding an event reproduces what the server sent.
    """

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


@record
class SSEFrame:
    """The bytes of one event block up to and including its blank line, and the parsed event.

    `event` is None for a block that set no field (only comments, or stray blank lines).
    """

    raw: bytes
    event: SSEEvent | None


class SSEEventTooLarge(ValueError):
    """One event grew past the decoder's `max_event` bytes before it ended."""


class SSEFrameDecoder:
    """Incremental decoder from arbitrary byte chunks to `SSEFrame`s (raw bytes + event).

    An event is held until its blank line; `max_event` (bytes, None: no limit) bounds what one
    unfinished event may hold: past it `decode` raises `SSEEventTooLarge`.
    """

    def __init__(self, max_event: int | None = None) -> None:
        self.max_event = max_event
        self._buffer = bytearray()
        self._block_start = 0
        """Offset in `_buffer` where the current (unfinished) block begins."""
        self._scan = 0
        """Offset in `_buffer` of the first byte not yet split into lines."""
        self._searched = 0
        """Offset in `_buffer` up to which the unfinished line was searched for a line end
        (a long line arriving in many chunks is searched once, not once a chunk)."""
        self._started = False
        self._reset_fields()

    def _reset_fields(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._has_field = False

    def decode(self, chunk: bytes) -> list[SSEFrame]:
        """Feed one chunk; return the frames it completes (possibly none)."""
        if not chunk:
            return []
        self._buffer += chunk
        if not self._started:
            if len(self._buffer) < len(_BOM) and _BOM.startswith(bytes(self._buffer)):
                return []
            self._started = True
            if self._buffer.startswith(_BOM):
                # The BOM is not part of any field; keep it in the first frame's raw bytes.
                self._scan = len(_BOM)
        frames = self._drain(final=False)
        if self.max_event is not None and len(self._buffer) - self._block_start > self.max_event:
            raise SSEEventTooLarge(f"an event is larger than {self.max_event} bytes")
        return frames

    def flush(self) -> list[SSEFrame]:
        """End of stream: a final event without its blank line is dispatched, as the SDKs do,
        and trailing bytes that form no event are returned as a frame with `event=None`."""
        frames = self._drain(final=True)
        if self._scan < len(self._buffer):
            self._line(bytes(self._buffer[self._scan :]))
            self._scan = len(self._buffer)
        if self._block_start < len(self._buffer):
            frames.append(self._dispatch(len(self._buffer)))
        self._buffer.clear()
        self._block_start = self._scan = self._searched = 0
        return frames

    def _drain(self, *, final: bool) -> list[SSEFrame]:
        frames: list[SSEFrame] = []
        buffer = self._buffer
        end = len(buffer)
        pos = self._scan
        search = max(pos, self._searched)
        while pos < end:
            match = _LINE_END.search(buffer, search)
            if match is None:
                search = end
                break
            if match.group() == b"\r" and match.end() == end and not final:
                search = match.start()
                break  # a "\n" may follow in the next chunk
            line = bytes(buffer[pos : match.start()])
            pos = search = match.end()
            if line:
                self._line(line)
            else:
                frames.append(self._dispatch(pos))
        self._scan = pos
        self._searched = search
        if self._block_start > 0 and (self._block_start > 65536 or self._block_start == end):
            # Compact without copying on every event.
            del buffer[: self._block_start]
            self._scan -= self._block_start
            self._searched -= self._block_start
            self._block_start = 0
        return frames

    def _line(self, line: bytes) -> None:
        if line.startswith(b":"):
            return
        text = line.decode("utf-8", errors="replace")
        name, sep, value = text.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" in value:
                return
            self._id = value
        elif name == "retry":
            if not value.isascii() or not value.isdigit():
                return
            self._retry = int(value)
        else:
            return
        self._has_field = True

    def _dispatch(self, end: int) -> SSEFrame:
        if self.max_event is not None and end - self._block_start > self.max_event:
            # Whatever the chunking: an event this large is refused whole or in parts alike.
            raise SSEEventTooLarge(f"an event is larger than {self.max_event} bytes")
        raw = bytes(self._buffer[self._block_start : end])
        self._block_start = end
        event = None
        if self._has_field:
            event = SSEEvent(
                data="\n".join(self._data), event=self._event, id=self._id, retry=self._retry
            )
        self._reset_fields()
        return SSEFrame(raw=raw, event=event)


class SSEDecoder:
    """Incremental decoder from arbitrary byte chunks to complete `SSEEvent`s."""

    def __init__(self) -> None:
        self._frames = SSEFrameDecoder()

    def decode(self, chunk: bytes) -> list[SSEEvent]:
        """Feed one chunk; return the events it completes (possibly none)."""
        return [f.event for f in self._frames.decode(chunk) if f.event is not None]

    def flush(self) -> list[SSEEvent]:
        """End of stream: return an event left without its terminating blank line, if any."""
        return [f.event for f in self._frames.flush() if f.event is not None]


def encode_event(event: SSEEvent) -> bytes:
    """Serialise one event, ending with its blank line; `data` lines are split on line ends."""
    parts: list[str] = []
    if event.event is not None:
        parts.append(f"event: {_one_line(event.event)}\n")
    if event.id is not None:
        parts.append(f"id: {_one_line(event.id)}\n")
    if event.retry is not None:
        parts.append(f"retry: {event.retry}\n")
    for line in _TEXT_LINE_END.split(event.data):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode()


def _one_line(value: str) -> str:
    # A line break inside a field name's value would start a new field: refuse to forge one.
    return _TEXT_LINE_END.sub(" ", value)
