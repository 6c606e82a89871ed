"""Legacy Completions: inline think tags in `choices[].text`, stream and whole body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._models import construct_type
from openai.types import Completion
from tests.protocols.transform_harness import assert_split_invariant, chunks_at, events, run, sse

from guardgate.model import ApiKind, ReasoningPolicy

COMPLETIONS = ApiKind.OPENAI_COMPLETIONS
STRIP, SUMMARISE = ReasoningPolicy.STRIP, ReasoningPolicy.SUMMARISE
TRACE = (
    "The user asks for 17 times 23. Seventeen times twenty is 340 and seventeen times three "
    "is 51. Let me verify by adding them. So the total is 391."
)
ANSWER = "The answer is 391."
LOGPROBS = {"tokens": ["x"], "token_logprobs": [-0.1], "top_logprobs": None, "text_offset": [0]}


def chunk(text: str, index: int = 0, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"text": text, "index": index, "logprobs": LOGPROBS, "finish_reason": finish}
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1700000000,
        "model": "deepseek-r1",
        "choices": [choice],
        **extra,
    }


def text_of(opening: bool, choice: int = 0) -> str:
    trace = TRACE.replace("391", f"39{choice + 1}")
    return ("<think>\n" if opening else "") + trace + "\n</think>\n\n" + ANSWER


def stream(*, opening: bool, n: int = 1) -> bytes:
    per_choice = []
    for index in range(n):
        text = text_of(opening, index)
        pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
        per_choice.append([chunk(p, index) for p in pieces] + [chunk("", index, "stop")])
    interleaved = [c[i] for i in range(max(map(len, per_choice))) for c in per_choice if i < len(c)]
    usage = {"prompt_tokens": 5, "completion_tokens": 60, "total_tokens": 65}
    return sse(
        *((None, c) for c in interleaved),
        (None, {**chunk(""), "choices": [], "usage": usage}),
        (None, "[DONE]"),
    )


def texts(body: bytes) -> dict[int, str]:
    """Each choice's text, as a client concatenating the validated chunks reads it."""
    out: dict[int, str] = {}
    for _, data in events(body):
        if data == "[DONE]":
            continue
        # The SDK builds stream chunks without validation (finish_reason is null mid-stream).
        completion = construct_type(type_=Completion, value=data)
        assert isinstance(completion, Completion)
        for choice in completion.choices:
            out[choice.index] = out.get(choice.index, "") + choice.text
    return out


@pytest.mark.parametrize(("opening", "think_open"), [(True, False), (False, True)])
async def test_strip_stream_keeps_only_the_answer(opening: bool, think_open: bool) -> None:
    body = stream(opening=opening)
    out = await assert_split_invariant(
        COMPLETIONS, STRIP, body, streaming=True, think_open=think_open
    )
    assert b"Seventeen" not in out and b"think>" not in out
    assert texts(out)[0].strip() == ANSWER
    parsed = events(out)
    assert parsed[-1] == (None, "[DONE]")
    assert parsed[-2][1]["usage"]["completion_tokens"] == 60  # usage stays truthful
    assert parsed[-3][1]["choices"][0]["finish_reason"] == "stop"
    # Chunks whose text was reasoning are dropped, and changed ones lose their logprobs.
    for _, data in parsed[:-2]:
        choice = data["choices"][0]
        assert choice["text"] or choice["finish_reason"]
        assert choice["logprobs"] is None or choice["text"] in "\n</think>\n\n" + ANSWER


async def test_several_choices_are_filtered_apart() -> None:
    out = await run(COMPLETIONS, STRIP, [stream(opening=True, n=2)], streaming=True)
    assert {i: t.strip() for i, t in texts(out).items()} == {0: ANSWER, 1: ANSWER}
    assert b"Seventeen" not in out


async def test_summarise_stream_puts_a_summary_between_the_tags() -> None:
    out = await assert_split_invariant(COMPLETIONS, SUMMARISE, stream(opening=True), streaming=True)
    text = texts(out)[0]
    assert text.startswith("<think>\nSummary:") and text.endswith("</think>\n\n" + ANSWER)
    summary = text.split("</think>")[0].removeprefix("<think>\n")
    assert len(summary) < len(TRACE) * 2 / 3
    for sentence in TRACE.split(". "):
        assert sentence not in summary


async def test_a_plain_stream_is_held_until_the_model_finishes() -> None:
    # Fail closed: the text could be a think-open model's trace until the model ends it.
    body = sse((None, chunk("Plain ")), (None, chunk("answer.", finish="stop")), (None, "[DONE]"))
    out = await run(COMPLETIONS, STRIP, [body], streaming=True)
    texts = [data["choices"][0]["text"] for _, data in events(out) if data != "[DONE]"]
    assert texts == ["Plain answer."]
    cut = sse((None, chunk("Plain ")), (None, chunk("thought", finish="length")), (None, "[DONE]"))
    out = await run(COMPLETIONS, STRIP, [cut], streaming=True)
    assert b"Plain" not in out and b"thought" not in out


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 6000), max_size=12), opening=st.booleans())
async def test_random_multi_splits(cuts: list[int], opening: bool) -> None:
    body = stream(opening=opening, n=2)
    whole = await run(COMPLETIONS, STRIP, [body], streaming=True, think_open=not opening)
    split = await run(
        COMPLETIONS, STRIP, chunks_at(body, cuts), streaming=True, think_open=not opening
    )
    assert split == whole and b"Seventeen" not in whole


@pytest.mark.parametrize("opening", [True, False])
async def test_whole_body(opening: bool) -> None:
    payload = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {"text": text_of(opening), "index": 0, "logprobs": LOGPROBS, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 60, "total_tokens": 65},
    }
    body = json.dumps(payload).encode()
    out = json.loads(await assert_split_invariant(COMPLETIONS, STRIP, body, streaming=False))
    assert out["choices"][0]["text"].strip() == ANSWER
    assert out["choices"][0]["logprobs"] is None
    assert out["usage"] == payload["usage"]
    summarised = json.loads(await run(COMPLETIONS, SUMMARISE, [body], streaming=False))
    assert "Summary:" in summarised["choices"][0]["text"]
    assert "Seventeen" not in summarised["choices"][0]["text"]
