"""Chat Completions: reasoning fields and inline think tags, in messages and streams."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from tests.protocols.transform_harness import (
    SEALER,
    SUMMARISER,
    assert_split_invariant,
    chunks_at,
    events,
    run,
    sse,
)

from guardgate.hardening.sealing import Sealer, SealError
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import dialect_for
from guardgate.protocols.reasoning import response_transformer
from guardgate.protocols.reasoning_base import UnreadableAnswer

CHAT = ApiKind.OPENAI_CHAT
STRIP, SUMMARISE = ReasoningPolicy.STRIP, ReasoningPolicy.SUMMARISE
TRACE = [
    "The user asks for 17 times 23. ",
    "Seventeen times twenty is 340 and seventeen times three is 51. ",
    "Let me verify by adding them. So the total is 391.",
]
SECRET_PHRASES = ["Seventeen times twenty", "verify by adding", "The user asks"]
ANSWER = ["The answer", " is ", "391."]
USAGE = {"prompt_tokens": 12, "completion_tokens": 80, "total_tokens": 92}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "deepseek-r1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def field_stream(field: str) -> bytes:
    return sse(
        (None, chunk({"role": "assistant", "content": ""})),
        *((None, chunk({field: part})) for part in TRACE),
        *((None, chunk({"content": part})) for part in ANSWER),
        (None, chunk({}, "stop")),
        (None, {**chunk({}), "choices": [], "usage": USAGE}),
        (None, "[DONE]"),
    )


def think_stream(*, opening: bool) -> bytes:
    # Tags split across chunks, as tokenizers produce them.
    text = ("<think>\n" if opening else "") + "".join(TRACE) + "</think>\n\n" + "".join(ANSWER)
    pieces = [text[i : i + 9] for i in range(0, len(text), 9)]
    return sse(
        (None, chunk({"role": "assistant", "content": ""})),
        *((None, chunk({"content": piece})) for piece in pieces),
        (None, chunk({}, "stop")),
        (None, "[DONE]"),
    )


def accumulate(body: bytes) -> Any:
    """The final completion the openai SDK's own stream accumulator builds."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for _, data in events(body):
        if data != "[DONE]":
            state.handle_chunk(ChatCompletionChunk.model_validate(data))
    return state.get_final_completion()


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_strip_removes_reasoning_fields_from_a_stream(field: str) -> None:
    out = await assert_split_invariant(CHAT, STRIP, field_stream(field), streaming=True)
    for phrase in SECRET_PHRASES:
        assert phrase.encode() not in out
    final = accumulate(out)
    assert final.choices[0].message.content == "".join(ANSWER)
    assert final.choices[0].finish_reason == "stop"
    assert final.usage.completion_tokens == 80  # usage stays truthful
    parsed = events(out)
    assert parsed[0][1]["choices"][0]["delta"]["role"] == "assistant"
    assert parsed[-1] == (None, "[DONE]")
    # Reasoning-only chunks are dropped, not sent empty.
    assert len(parsed) == len(events(field_stream(field))) - len(TRACE)


async def test_summarise_puts_a_summary_in_the_same_field_before_the_answer() -> None:
    out = await assert_split_invariant(
        CHAT, SUMMARISE, field_stream("reasoning_content"), streaming=True
    )
    deltas = [d["choices"][0]["delta"] for _, d in events(out) if d != "[DONE]" and d["choices"]]
    summaries = [d["reasoning_content"] for d in deltas if "reasoning_content" in d]
    assert len(summaries) == 1 and summaries[0].startswith("Summary:")
    assert "391" in summaries[0]
    first_answer = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert "reasoning_content" in deltas[first_answer - 1]
    for sentence in TRACE:
        assert sentence.strip().encode() not in out
    assert accumulate(out).choices[0].message.content == "".join(ANSWER)


@pytest.mark.parametrize(("opening", "think_open"), [(True, False), (False, True), (True, True)])
async def test_strip_removes_inline_think_tags_split_across_chunks(
    opening: bool, think_open: bool
) -> None:
    body = think_stream(opening=opening)
    out = await assert_split_invariant(CHAT, STRIP, body, streaming=True, think_open=think_open)
    for phrase in [*SECRET_PHRASES, "<think>", "</think>", "think>"]:
        assert phrase.encode() not in out
    assert accumulate(out).choices[0].message.content.strip() == "".join(ANSWER)


async def test_prompt_opened_think_makes_the_output_start_as_reasoning() -> None:
    body = think_stream(opening=False)
    out = await assert_split_invariant(CHAT, STRIP, body, streaming=True, think_open=True)
    assert b"Seventeen" not in out
    assert accumulate(out).choices[0].message.content.strip() == "".join(ANSWER)


def content_stream(*pieces: str) -> bytes:
    return sse(
        (None, chunk({"role": "assistant", "content": ""})),
        *((None, chunk({"content": piece})) for piece in pieces),
        (None, chunk({}, "stop")),
        (None, "[DONE]"),
    )


async def outputs_per_chunk(body: bytes, *, think_open: bool) -> list[bytes]:
    """What the client gets after each upstream event (one event per chunk)."""
    transformer = response_transformer(
        CHAT, STRIP, streaming=True, sealer=SEALER, summariser=SUMMARISER, think_open=think_open
    )
    assert transformer is not None
    frames = [frame + b"\n\n" for frame in body.split(b"\n\n") if frame]
    return [await transformer.feed(frame) for frame in frames] + [await transformer.finish()]


@pytest.mark.parametrize("think_open", [False, True])
async def test_a_plain_answer_waits_until_no_think_span_can_follow(think_open: bool) -> None:
    # Fail closed under strip, whether or not the model is listed as think-open: a model that
    # opens `<think>` in its template (unlisted, or served as the default when `model` is
    # omitted) would otherwise leak the text before its `</think>`. The answer waits for the
    # model's own finish, then arrives whole.
    pieces = ("The answer", " is <b>391</b>", " and no tag.")
    outputs = await outputs_per_chunk(content_stream(*pieces), think_open=think_open)
    assert not any(b"answer" in output for output in outputs[:4])
    assert b'"content":"The answer is <b>391</b> and no tag."' in outputs[4]
    whole = await assert_split_invariant(CHAT, STRIP, content_stream(*pieces), streaming=True)
    assert accumulate(whole).choices[0].message.content == "".join(pieces)


async def test_after_the_closing_tag_the_answer_streams_at_once() -> None:
    pieces = ["I restate it. ", "Seventeen times twenty.", "</th", "ink>\n\nThe", " answer"]
    outputs = await outputs_per_chunk(content_stream(*pieces), think_open=True)
    assert outputs[1:4] == [b"", b"", b""]  # reasoning held: it may still be answer
    assert b'"content":"\\n\\nThe"' in outputs[4] and b'"content":" answer"' in outputs[5]
    assert b"Seventeen" not in b"".join(outputs)


async def test_prompt_opened_think_without_a_closing_tag_is_released_as_answer() -> None:
    body = content_stream("No tags ", "at all.")
    out = await assert_split_invariant(CHAT, STRIP, body, streaming=True, think_open=True)
    assert accumulate(out).choices[0].message.content == "No tags at all."


async def test_prompt_opened_think_cut_by_max_tokens_stays_reasoning() -> None:
    """An answer cut by max_tokens before its `</think>` (finish_reason "length"): what came was
    all thought, and asking for short answers must not be a way to harvest the trace."""
    body = sse(
        (None, chunk({"role": "assistant", "content": ""})),
        (None, chunk({"content": "Seventeen times twenty is "})),
        (None, chunk({"content": "three hundred and forty"})),
        (None, chunk({}, "length")),
        (None, "[DONE]"),
    )
    out = await assert_split_invariant(CHAT, STRIP, body, streaming=True, think_open=True)
    assert b"Seventeen" not in out and b"three hundred" not in out
    assert b'"finish_reason":"length"' in out  # the SDKs' accumulators raise on it themselves
    summarised = await run(CHAT, SUMMARISE, [body], streaming=True, think_open=True)
    assert b"Seventeen times twenty" not in summarised
    assert b"Summary:" in summarised


async def test_a_lost_closing_tag_before_a_tool_call_does_not_release_the_trace() -> None:
    """The event carrying `</think>` arrives corrupt (it passes as received, unreadable to any
    client): the text held for that choice stays reasoning when a tool call follows."""
    call = {"index": 0, "id": "call_1", "type": "function"}
    call["function"] = {"name": "add", "arguments": '{"a":1}'}
    body = sse(
        (None, chunk({"role": "assistant", "content": ""})),
        (None, chunk({"content": "Seventeen times twenty. "})),
        (None, chunk({"content": "</th"})),
        (None, chunk({"content": "ink>Calling add."})),
        (None, chunk({"tool_calls": [call]}, "tool_calls")),
        (None, "[DONE]"),
    )
    events = body.split(b"\n\n")
    at = next(i for i, event in enumerate(events) if b'"content":"</th"' in event)
    events[at] = events[at].replace(b'"choices"', b'\xff"choices"', 1)  # no longer JSON
    broken = b"\n\n".join(events)
    assert broken != body
    out = await run(CHAT, STRIP, [broken], streaming=True, think_open=True)
    assert b"Seventeen" not in out
    assert b'"name":"add"' in out


async def test_summarise_inline_think_keeps_tags_around_a_summary() -> None:
    out = await run(CHAT, SUMMARISE, [think_stream(opening=True)], streaming=True)
    content = accumulate(out).choices[0].message.content
    assert content.startswith("<think>\nSummary:")
    assert content.endswith("</think>\n\n" + "".join(ANSWER))
    assert "Seventeen times twenty" not in content


async def test_answer_without_tags_is_released_at_the_finish_chunk() -> None:
    body = sse(
        (None, chunk({"role": "assistant", "content": ""})),
        (None, chunk({"content": "Plain answer, a < b."})),
        (None, chunk({}, "stop")),
        (None, "[DONE]"),
    )
    out = await assert_split_invariant(CHAT, STRIP, body, streaming=True)
    assert accumulate(out).choices[0].message.content == "Plain answer, a < b."


async def test_tool_calls_and_role_chunks_are_never_dropped() -> None:
    call = {"index": 0, "id": "call_1", "type": "function"}
    call["function"] = {"name": "add", "arguments": '{"a":1}'}
    body = sse(
        (None, chunk({"role": "assistant", "reasoning_content": "I should call add."})),
        (None, chunk({"tool_calls": [call]})),
        (None, chunk({}, "tool_calls")),
        (None, "[DONE]"),
    )
    out = await assert_split_invariant(CHAT, STRIP, body, streaming=True)
    assert b"call add" not in out
    final = accumulate(out)
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].message.tool_calls[0].function.arguments == '{"a":1}'


async def test_non_json_and_unknown_lines_pass_through() -> None:
    body = b": ping\n\ndata: not json\n\nevent: weird\ndata: {}\n\n" + field_stream("reasoning")
    out = await run(CHAT, STRIP, [body], streaming=True)
    assert out.startswith(b": ping\n\ndata: not json\n\nevent: weird\ndata: {}\n\n")
    assert b"Seventeen" not in out


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, 5000), max_size=12), opening=st.booleans())
async def test_random_multi_splits(cuts: list[int], opening: bool) -> None:
    body = think_stream(opening=opening)
    whole = await run(CHAT, STRIP, [body], streaming=True, think_open=not opening)
    split = await run(CHAT, STRIP, chunks_at(body, cuts), streaming=True, think_open=not opening)
    assert split == whole
    assert b"Seventeen" not in whole


def completion(message: dict[str, Any]) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    return json.dumps(body, indent=1).encode()


async def test_non_stream_strip_and_summarise() -> None:
    message = {"role": "assistant", "content": "391.", "reasoning_content": "".join(TRACE)}
    body = completion(message)
    stripped = json.loads(await assert_split_invariant(CHAT, STRIP, body, streaming=False))
    assert "reasoning_content" not in stripped["choices"][0]["message"]
    assert stripped["choices"][0]["message"]["content"] == "391."
    assert stripped["usage"] == USAGE
    summarised = json.loads(await run(CHAT, SUMMARISE, [body], streaming=False))
    summary = summarised["choices"][0]["message"]["reasoning_content"]
    assert summary.startswith("Summary:") and len(summary) < len("".join(TRACE))


async def test_non_stream_inline_think_and_untouched_bodies() -> None:
    inline = completion({"role": "assistant", "content": "".join(TRACE) + "</think>391."})
    out = json.loads(await run(CHAT, STRIP, [inline], streaming=False))
    assert out["choices"][0]["message"]["content"] == "391."
    plain = completion({"role": "assistant", "content": "391."})
    assert await run(CHAT, STRIP, [plain], streaming=False) == plain  # byte for byte
    with pytest.raises(UnreadableAnswer):  # never passed raw: it could hold the trace
        await run(CHAT, STRIP, [b"<html>502</html>"], streaming=False)
    with pytest.raises(UnreadableAnswer):  # cut off mid-body
        await run(CHAT, STRIP, [inline[: len(inline) // 2]], streaming=False)


def restore(assistant: dict[str, Any]) -> dict[str, Any]:
    """The assistant message as the next request sends it upstream."""
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}, assistant]}
    new, changed = dialect_for(CHAT).rewrite_request(
        body, policy=ReasoningPolicy.PASS, sealer=SEALER, drop_logprobs=False
    )
    assert changed and body["messages"][1] is assistant  # the client's body is left alone
    restored: dict[str, Any] = new["messages"][1]
    return restored


@pytest.mark.parametrize("policy", [STRIP, SUMMARISE])
async def test_sealed_chat_reasoning_comes_back_whole(policy: ReasoningPolicy) -> None:
    trace = "".join(TRACE)
    body = completion({"role": "assistant", "content": "391.", "reasoning_content": trace})
    out = json.loads(await run(CHAT, policy, [body], streaming=False, seal_chat_reasoning=True))
    message = out["choices"][0]["message"]
    field: str = message["reasoning_content"]
    for phrase in SECRET_PHRASES:
        assert phrase not in field
    if policy is STRIP:
        assert field.startswith("gg1.") and "\n" not in field
    else:
        assert field.startswith("Summary:") and "\n\ngg1." in field
    assert restore(message)["reasoning_content"] == trace
    assert restore(message)["content"] == "391."


async def test_sealed_chat_reasoning_in_a_stream() -> None:
    body = field_stream("reasoning")
    out = await assert_split_invariant(CHAT, STRIP, body, streaming=True, seal_chat_reasoning=True)
    for phrase in SECRET_PHRASES:
        assert phrase.encode() not in out
    final = accumulate(out).choices[0].message
    assert final.content == "".join(ANSWER)
    sealed = final.model_dump()["reasoning"]
    assert sealed.startswith("gg1.")
    assistant = {"role": "assistant", "content": final.content, "reasoning": sealed}
    assert restore(assistant)["reasoning"] == "".join(TRACE).strip()


def test_a_tampered_or_foreign_chat_token_is_refused() -> None:
    token = SEALER.seal(json.dumps({"type": "chat_reasoning", "text": "x"}).encode())
    other = Sealer(b"another deployment").seal(b'{"type":"chat_reasoning","text":"x"}')
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, other, "Summary: fine.\n\n" + tampered):
        with pytest.raises(SealError):
            restore({"role": "assistant", "content": "", "reasoning_content": bad})


async def test_past_the_cut_off_held_text_stays_reasoning() -> None:
    # GUARDGATE_REASONING_BUFFER_CHARS bounds what waits for a tag; past it the text is taken
    # for reasoning (fail closed), up to the `</think>` that ends it.
    trace = ["I think about the carry. " * 20] * 8  # 4,000 chars without a tag
    body = content_stream(*trace, "</think>", "391.")
    transformer = response_transformer(
        CHAT, STRIP, streaming=True, sealer=SEALER, summariser=SUMMARISER, max_reasoning=1024
    )
    assert transformer is not None
    out = await transformer.feed(body) + await transformer.finish()
    assert b"carry" not in out
    assert accumulate(out).choices[0].message.content == "391."
