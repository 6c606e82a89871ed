"""The SSE codec: line ends, split chunks, comments, flush, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardgate.protocols.sse import (
    SSEDecoder,
    SSEEvent,
    SSEFrameDecoder,
    encode_event,
)

STREAM = (
    b": keep-alive\r\n\r\n"
    b'event: message_start\r\ndata: {"a":1}\r\n\r\n'
    b"data: line one\rdata: line two\r\r"
    b"id: 7\nretry: 1500\ndata:no-space\n\n"
    b"event: ping\n\n"
    b"data: caf\xc3\xa9 \xe2\x9c\x93\n\n"
)
EXPECTED = [
    SSEEvent(data='{"a":1}', event="message_start"),
    SSEEvent(data="line one\nline two"),
    SSEEvent(data="no-space", id="7", retry=1500),
    SSEEvent(data="", event="ping"),
    SSEEvent(data="café ✓"),
]


def decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.decode(chunk)
    return events + decoder.flush()


def test_decodes_every_line_ending_and_field() -> None:
    assert decode_all([STREAM]) == EXPECTED


def test_same_events_at_every_two_way_split() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode_all([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_one_byte_at_a_time() -> None:
    assert decode_all([bytes([b]) for b in STREAM]) == EXPECTED


def test_cr_at_chunk_end_then_lf_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(b"data: x\r") == []
    # If "\r\n" were taken as two line ends, the event would be dispatched here.
    assert decoder.decode(b"\n") == []
    assert decoder.decode(b"\r\n") == [SSEEvent(data="x")]


def test_other_unicode_line_breaks_are_data() -> None:
    # str.splitlines would split on U+2028 and \x0b; SSE must not.
    assert decode_all(["data: a\u2028b\x0bc\n\n".encode()]) == [SSEEvent(data="a\u2028b\x0bc")]


def test_flush_dispatches_an_unterminated_last_event() -> None:
    assert decode_all([b"data: [DONE]"]) == [SSEEvent(data="[DONE]")]
    assert decode_all([b"data: [DONE]\r"]) == [SSEEvent(data="[DONE]")]


def test_invalid_retry_and_unknown_fields_are_ignored() -> None:
    assert decode_all([b"retry: 1x\nfoo: bar\ndata: d\n\n"]) == [SSEEvent(data="d")]


def test_leading_bom_is_skipped() -> None:
    assert decode_all([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [SSEEvent(data="x")]


def test_frames_carry_the_original_bytes_verbatim() -> None:
    for cut in range(len(STREAM) + 1):
        decoder = SSEFrameDecoder()
        frames = decoder.decode(STREAM[:cut]) + decoder.decode(STREAM[cut:]) + decoder.flush()
        assert b"".join(f.raw for f in frames) == STREAM
        assert [f.event for f in frames if f.event is not None] == EXPECTED
        assert frames[0].event is None  # the comment-only block


def test_encode_round_trips() -> None:
    for event in EXPECTED:
        assert decode_all([encode_event(event)]) == [event]
    assert encode_event(SSEEvent(data='{"x":1}', event="e")) == b'event: e\ndata: {"x":1}\n\n'


def test_encode_cannot_inject_fields_through_the_event_name() -> None:
    encoded = encode_event(SSEEvent(data="d", event="a\ndata: evil"))
    assert decode_all([encoded]) == [SSEEvent(data="d", event="a data: evil")]


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.builds(
            SSEEvent,
            data=texts.map(lambda s: s.replace("\r", "\n")),
            event=st.none() | texts.filter(lambda s: "\r" not in s and "\n" not in s),
            id=st.none() | texts.filter(lambda s: not any(c in s for c in "\r\n\0")),
            retry=st.none() | st.integers(0, 10**6),
        ),
        max_size=6,
    ),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
)
def test_random_events_survive_random_splits(events: list[SSEEvent], cuts: list[int]) -> None:
    stream = b"".join(encode_event(e) for e in events)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    expected = [SSEEvent(e.data.replace("\r\n", "\n"), e.event, e.id, e.retry) for e in events]
    assert decode_all(chunks) == expected


def test_an_event_past_max_event_is_refused_at_every_split() -> None:
    from guardgate.protocols.sse import SSEEventTooLarge, SSEFrameDecoder

    small = b"data: " + b"x" * 40 + b"\n\n"
    large = b"event: big\ndata: " + b"y" * 80 + b"\n\n"
    for cut in range(len(small + large) + 1):
        decoder = SSEFrameDecoder(max_event=64)
        stream = small + large
        frames = []
        with pytest.raises(SSEEventTooLarge):
            frames += decoder.decode(stream[:cut])
            frames += decoder.decode(stream[cut:])
            frames += decoder.flush()
        assert [f.raw for f in frames] in ([], [small])  # never the large one
    decoder = SSEFrameDecoder(max_event=64)
    assert [f.raw for f in decoder.decode(small + small)] == [small, small]
