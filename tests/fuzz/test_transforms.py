"""Property tests over every reasoning transform (Chat fields and think tags, legacy Completions,
Responses, Anthropic; stream and whole body; strip and summarise) with the mock upstream's real
answers: split at random bytes, truncated, with junk between events, with invalid UTF-8, and
oversized. Nothing raises; valid in gives valid out (the SDKs' own accumulators build the same
answer, tool calls, stop reason and usage); under strip no sentence of the trace gets out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz.corpus import FUZZ, Sample, corpus, outcome
from tests.protocols.transform_harness import chunks_at, normalise, run

from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.reasoning_base import UnreadableAnswer, load_json_object
from guardgate.protocols.sse import SSEFrameDecoder

POLICIES = st.sampled_from([ReasoningPolicy.STRIP, ReasoningPolicy.SUMMARISE])
SAMPLES = st.sampled_from(corpus())
STREAMS = st.sampled_from([s for s in corpus() if s.streaming])
CUTS = st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=40)


def transform(sample: Sample, policy: ReasoningPolicy, chunks: list[bytes]) -> bytes:
    return asyncio.run(
        run(sample.api, policy, chunks, streaming=sample.streaming, think_open=sample.think_open)
    )


def assert_no_trace(sample: Sample, policy: ReasoningPolicy, out: bytes) -> None:
    if policy is ReasoningPolicy.STRIP:
        text = out.decode("utf-8", "replace")
        for sentence in sample.reasoning_sentences():
            assert sentence not in text and json.dumps(sentence)[1:-1] not in text, sentence


@FUZZ
@given(sample=SAMPLES, policy=POLICIES, cuts=CUTS)
def test_valid_answers_split_anywhere_stay_valid(
    sample: Sample, policy: ReasoningPolicy, cuts: list[int]
) -> None:
    whole = transform(sample, policy, [sample.body])
    split = transform(sample, policy, chunks_at(sample.body, cuts))
    assert normalise(split) == normalise(whole)
    # Nothing the client needs is lost or reordered: its SDK builds the same final answer.
    assert outcome(sample.api, sample.streaming, split) == outcome(
        sample.api, sample.streaming, sample.body
    )
    assert_no_trace(sample, policy, split)


# Think-open streams included: text the prompt opened as a thought stays reasoning when the stream
# ends before its `</think>` (an upstream break, or max_tokens reached mid-thought).
CLOSED_STREAMS = st.sampled_from([s for s in corpus() if s.streaming])


@FUZZ
@given(sample=CLOSED_STREAMS, policy=POLICIES, cut=st.integers(min_value=0), cuts=CUTS)
def test_truncated_streams_never_raise_nor_leak(
    sample: Sample, policy: ReasoningPolicy, cut: int, cuts: list[int]
) -> None:
    body = sample.body[: cut % len(sample.body)]
    out = transform(sample, policy, chunks_at(body, cuts))
    assert_no_trace(sample, policy, out)
    # Every event that was complete upstream is complete (and in order) downstream: the frames
    # the client receives end where the upstream's did, apart from a last partial one.
    assert out.count(b"\n\n") <= body.count(b"\n\n") + 1


def test_truncated_think_open_stream_keeps_its_trace_hidden() -> None:
    sample = next(s for s in corpus() if s.streaming and s.think_open)
    cut = sample.body.index(b"</think>") if b"</think>" in sample.body else len(sample.body) // 3
    out = transform(sample, ReasoningPolicy.STRIP, [sample.body[:cut]])
    assert_no_trace(sample, ReasoningPolicy.STRIP, out)


JUNK = st.sampled_from(
    [
        b": keep-alive\n\n",
        b'event: x-vendor-heartbeat\ndata: {"type":"x-vendor-heartbeat","n":1}\n\n',
        b"data: this is not json\n\n",
        b"data: [1, 2, 3]\n\n",
        b"event: ping\ndata: {}\n\n",
        b"id: 42\nretry: 100\n\n",
        b"\n",
        b'data: {"choices": 7, "type": null, "delta": []}\n\n',
    ]
)


@FUZZ
@given(
    sample=STREAMS,
    policy=POLICIES,
    junk=st.lists(st.tuples(st.integers(min_value=0), JUNK), min_size=1, max_size=8),
    cuts=CUTS,
)
def test_junk_between_events_passes_through_in_order(
    sample: Sample, policy: ReasoningPolicy, junk: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    decoder = SSEFrameDecoder()
    frames = [f.raw for f in decoder.decode(sample.body) + decoder.flush()]
    inserted: list[bytes] = []
    for position, piece in sorted(junk, key=lambda j: j[0] % (len(frames) + 1), reverse=True):
        frames.insert(position % (len(frames) + 1), piece)
    for frame in frames:
        if frame in (p for _, p in junk):
            inserted.append(frame)
    body = b"".join(frames)
    out = transform(sample, policy, chunks_at(body, cuts))
    assert_no_trace(sample, policy, out)
    # Unknown events, comments and foreign data are the client's business: kept, in order.
    cursor = 0
    for piece in inserted:
        if piece == b"\n":
            continue
        found = out.find(piece, cursor)
        assert found >= 0, piece
        cursor = found + len(piece)


@FUZZ
@given(
    sample=SAMPLES,
    policy=POLICIES,
    spots=st.lists(st.integers(min_value=0), min_size=1, max_size=6),
    bad=st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]),
    cuts=CUTS,
)
def test_invalid_utf8_never_raises_nor_leaks(
    sample: Sample, policy: ReasoningPolicy, spots: list[int], bad: bytes, cuts: list[int]
) -> None:
    body = bytearray(sample.body)
    for spot in spots:
        at = spot % len(body)
        body[at:at] = bad
    # Invalid bytes read as U+FFFD (as the SDKs read them). A whole body they broke the JSON of
    # is refused (`UnreadableAnswer`: the door answers 502), never passed raw with its trace.
    if not sample.streaming:
        if load_json_object(bytes(body)) is None:
            with pytest.raises(UnreadableAnswer):
                transform(sample, policy, chunks_at(bytes(body), cuts))
            return
        out = transform(sample, policy, chunks_at(bytes(body), cuts))
        assert_no_trace(sample, policy, _without_garbled_keys(out))
        return
    out = transform(sample, policy, chunks_at(bytes(body), cuts))
    # An event they broke the JSON of is passed as received: no client can parse it.
    decoder = SSEFrameDecoder()
    broken = [
        f.raw
        for f in decoder.decode(bytes(body)) + decoder.flush()
        if f.event is not None
        and f.event.data != "[DONE]"
        and load_json_object(f.event.data) is None
    ]
    for frame in broken:
        out = out.replace(frame, b"")
    assert_no_trace(sample, policy, _without_garbled_keys(out))


def _without_garbled_keys(out: bytes) -> bytes:
    """`out` without the JSON objects whose keys or `type` tag hold U+FFFD.

    An invalid byte inside a key or a type tag makes it another key or an unknown block, for the
    SDKs as for guardgate (a `"\ufffdreasoning_content"` member or a `"thin\ufffdking"` block is no
    reasoning to any client): documented behaviour for a corrupt upstream, not a leak through
    anything a client reads as reasoning.
    """

    def garbled(value: object) -> bool:
        return isinstance(value, dict) and (
            "\ufffd" in str(value.get("type", "")) or any("\ufffd" in k for k in value)
        )

    def clean(value: object) -> object:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if "\ufffd" not in k and not garbled(v)}
        if isinstance(value, list):
            return [clean(v) for v in value if not garbled(v)]
        return value

    text = out.decode("utf-8", "replace")
    try:
        return json.dumps(clean(json.loads(text))).encode()
    except ValueError:
        pass
    lines = []
    for line in text.split("\n"):
        if line.startswith("data: "):
            with contextlib.suppress(ValueError):
                line = "data: " + json.dumps(clean(json.loads(line[6:])))
        lines.append(line)
    return "\n".join(lines).encode()


def test_oversized_events_are_transformed_whole_in_linear_time() -> None:
    trace = "The hidden step number " + "x" * (4 << 20) + " ends here."
    answer = "Answer: " + "y" * (4 << 20)

    def chunk(delta: dict[str, str]) -> bytes:
        data = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        payload = {**data, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    body = chunk({"role": "assistant", "reasoning_content": trace}) + chunk({"content": answer})
    body += b"data: [DONE]\n\n"
    started = time.monotonic()
    out = asyncio.run(
        run(
            ApiKind.OPENAI_CHAT,
            ReasoningPolicy.STRIP,
            [body[i : i + 65536] for i in range(0, len(body), 65536)],
            streaming=True,
        )
    )
    assert time.monotonic() - started < 20
    assert b"hidden step" not in out
    assert answer.encode() in out
    assert out.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("streaming", [True, False])
def test_a_lone_surrogate_escape_is_rewritten_not_dropped(streaming: bool) -> None:
    # Legal JSON that Python servers write when a tokenizer cut an emoji in half.
    message = '{"role":"assistant","reasoning_content":"secret plan","content":"ok \\ud83d"}'
    if streaming:
        body = (
            b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
            b'[{"index":0,"delta":' + message.encode() + b',"finish_reason":null}]}\n\n'
            b"data: [DONE]\n\n"
        )
    else:
        body = (
            b'{"id":"c","object":"chat.completion","created":1,"model":"m","choices":'
            b'[{"index":0,"message":' + message.encode() + b',"finish_reason":"stop"}]}'
        )
    out = asyncio.run(run(ApiKind.OPENAI_CHAT, ReasoningPolicy.STRIP, [body], streaming=streaming))
    assert b"secret plan" not in out
    assert b'"content":"ok \\ud83d"' in out  # the answer kept, escaped as it came
    out.decode("utf-8")  # and the bytes are valid UTF-8
