"""OpenAI Responses: reasoning items hidden and sealed, reasoning events dropped, dense numbers."""

from __future__ import annotations

import json
from typing import Any

from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from tests.protocols.transform_harness import SEALER, assert_split_invariant, events, run, sse

from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import dialect_for

RESPONSES = ApiKind.OPENAI_RESPONSES
STRIP, SUMMARISE = ReasoningPolicy.STRIP, ReasoningPolicy.SUMMARISE
SUMMARY = [
    "**Computing the product**\n\nThe user wants 17 times 23. ",
    "Breaking it into 17 times 20 plus 17 times 3 gives 391.",
]
UPSTREAM_BLOB = "gAAAAABoISQ24OyVRYbkYfukCFAgnEkHEt"
REASONING = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [{"type": "summary_text", "text": "".join(SUMMARY)}],
    "encrypted_content": UPSTREAM_BLOB,
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "391", "annotations": [], "logprobs": []}],
}
USAGE = {
    "input_tokens": 20,
    "output_tokens": 90,
    "total_tokens": 110,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 64},
}


def response(status: str, output: list[Any]) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": "o4-mini",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": USAGE if status == "completed" else None,
    }


def stream() -> bytes:
    where = {"item_id": "rs_1", "output_index": 0, "summary_index": 0}
    raw: list[dict[str, Any]] = [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.in_progress", "response": response("in_progress", [])},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "rs_1", "type": "reasoning", "summary": []},
        },
        {
            "type": "response.reasoning_summary_part.added",
            **where,
            "part": {"type": "summary_text", "text": ""},
        },
        *({"type": "response.reasoning_summary_text.delta", **where, "delta": d} for d in SUMMARY),
        {"type": "response.reasoning_summary_text.done", **where, "text": "".join(SUMMARY)},
        {
            "type": "response.reasoning_summary_part.done",
            **where,
            "part": {"type": "summary_text", "text": "".join(SUMMARY)},
        },
        {"type": "response.output_item.done", "output_index": 0, "item": REASONING},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {**MESSAGE, "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "delta": "391",
        },
        {
            "type": "response.output_text.done",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "text": "391",
        },
        {
            "type": "response.content_part.done",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "part": MESSAGE["content"][0],
        },
        {"type": "response.output_item.done", "output_index": 1, "item": MESSAGE},
        {"type": "response.completed", "response": response("completed", [REASONING, MESSAGE])},
    ]
    return sse(*((e["type"], {**e, "sequence_number": n}) for n, e in enumerate(raw)))


def accumulate(body: bytes) -> Any:
    """The final response the openai SDK's own stream accumulator builds."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)  # type: ignore[arg-type]
    for _, data in events(body):
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=data))  # type: ignore[arg-type]
    assert state._completed_response is not None
    return state._completed_response


def restored_input(item: dict[str, Any]) -> dict[str, Any]:
    body = {"model": "o4-mini", "input": [{"role": "user", "content": "17*23?"}, item]}
    new, changed = dialect_for(RESPONSES).rewrite_request(
        body, policy=STRIP, sealer=SEALER, drop_logprobs=False
    )
    assert changed
    return dict(new["input"][1])


async def test_strip_drops_reasoning_events_and_renumbers() -> None:
    out = await assert_split_invariant(RESPONSES, STRIP, stream(), streaming=True)
    assert b"Computing the product" not in out and UPSTREAM_BLOB.encode() not in out
    parsed = [data for _, data in events(out)]
    assert not [e for e in parsed if e["type"].startswith("response.reasoning_")]
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    final = accumulate(out)
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary == [] and final.output[0].id == "rs_1"
    assert final.output_text == "391"
    assert final.usage.output_tokens_details.reasoning_tokens == 64
    # The item the client sends back next turn restores the original, blob included.
    done = next(e for e in parsed if e["type"] == "response.output_item.done")["item"]
    assert restored_input(done) == REASONING


async def test_summarise_streams_a_summary_in_place() -> None:
    out = await assert_split_invariant(RESPONSES, SUMMARISE, stream(), streaming=True)
    parsed = [data for _, data in events(out)]
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    deltas = [e["delta"] for e in parsed if e["type"] == "response.reasoning_summary_text.delta"]
    assert len(deltas) == 1 and deltas[0].startswith("Summary:")
    final = accumulate(out)
    assert final.output[0].summary[0].text == deltas[0]
    assert "Breaking it into" not in out.decode()
    assert restored_input(final.output[0].model_dump(exclude_none=True)) == REASONING


async def test_stream_without_reasoning_is_byte_identical() -> None:
    kept = [e for _, e in events(stream()) if "reasoning" not in json.dumps(e)]
    plain = sse(*((e["type"], {**e, "sequence_number": n}) for n, e in enumerate(kept)))
    assert await assert_split_invariant(RESPONSES, STRIP, plain, streaming=True) == plain


async def test_non_stream_response() -> None:
    body = json.dumps(response("completed", [REASONING, MESSAGE])).encode()
    out = json.loads(await assert_split_invariant(RESPONSES, STRIP, body, streaming=False))
    assert out["output"][0]["summary"] == [] and out["output"][1] == MESSAGE
    assert restored_input(out["output"][0]) == REASONING
    summarised = json.loads(await run(RESPONSES, SUMMARISE, [body], streaming=False))
    assert summarised["output"][0]["summary"][0]["text"].startswith("Summary:")


async def test_the_reasoning_configuration_echoed_on_the_response_is_kept() -> None:
    # A response echoes the effective `reasoning` settings, `context` (2026, gpt-5.6) among them:
    # configuration, not reasoning, so it passes as the upstream sent it.
    config = {"effort": "high", "summary": None, "context": "all_turns", "mode": "pro"}
    body = json.dumps({**response("completed", [REASONING, MESSAGE]), "reasoning": config})
    out = json.loads(await run(RESPONSES, STRIP, [body.encode()], streaming=False))
    assert out["reasoning"] == config and out["output"][0]["summary"] == []
    created = {"type": "response.created", "sequence_number": 0}
    created["response"] = {**response("in_progress", []), "reasoning": config}
    raw = sse(("response.created", created))
    assert await assert_split_invariant(RESPONSES, STRIP, raw, streaming=True) == raw
