"""Anthropic Messages: thinking blocks hidden and sealed, indices intact, tool loops restorable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from tests.protocols.transform_harness import (
    SEALER,
    SUMMARISER,
    assert_split_invariant,
    events,
    run,
    sse,
)

from guardgate.hardening.sealing import Sealer, SealError
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import dialect_for
from guardgate.protocols.reasoning import response_transformer

MESSAGES = ApiKind.ANTHROPIC_MESSAGES
STRIP, SUMMARISE = ReasoningPolicy.STRIP, ReasoningPolicy.SUMMARISE
THINKING = [
    "The user wants the weather in Paris. ",
    "I should call the get_weather tool with the city name. ",
    "Therefore the call is get_weather for Paris.",
]
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 40, "output_tokens": 1},
}


def ev(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"type": kind, **fields}


STREAM = sse(
    ev("message_start", message=MESSAGE),
    ev(
        "content_block_start",
        index=0,
        content_block={"type": "thinking", "thinking": "", "signature": ""},
    ),
    ev("ping"),
    *(
        ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": t})
        for t in THINKING
    ),
    ev("content_block_delta", index=0, delta={"type": "signature_delta", "signature": SIGNATURE}),
    ev("content_block_stop", index=0),
    ev("content_block_start", index=1, content_block={"type": "text", "text": ""}),
    ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "Let me check "}),
    ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "the weather."}),
    ev("content_block_stop", index=1),
    ev(
        "content_block_start",
        index=2,
        content_block={"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
    ),
    ev(
        "content_block_delta",
        index=2,
        delta={"type": "input_json_delta", "partial_json": '{"city":'},
    ),
    ev(
        "content_block_delta",
        index=2,
        delta={"type": "input_json_delta", "partial_json": '"Paris"}'},
    ),
    ev("content_block_stop", index=2),
    ev(
        "message_delta",
        delta={"stop_reason": "tool_use", "stop_sequence": None},
        usage={"output_tokens": 120},
    ),
    ev("message_stop"),
)


def accumulate(body: bytes) -> Any:
    """The final message the anthropic SDK's own accumulator builds."""
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for _, data in events(body):
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    return snapshot


def restore(content: list[dict[str, Any]], sealer: Sealer = SEALER) -> list[dict[str, Any]]:
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": content},
        ],
    }
    new, changed = dialect_for(MESSAGES).rewrite_request(
        body, policy=ReasoningPolicy.PASS, sealer=sealer, drop_logprobs=False
    )
    assert changed
    return list(new["messages"][1]["content"])


ORIGINAL_BLOCK = {"type": "thinking", "thinking": "".join(THINKING), "signature": SIGNATURE}


async def test_strip_hands_out_a_sealed_redacted_block_in_place() -> None:
    out = await assert_split_invariant(MESSAGES, STRIP, STREAM, streaming=True)
    for phrase in ("weather in Paris", "get_weather tool", SIGNATURE, "thinking_delta"):
        assert phrase.encode() not in out
    message = accumulate(out)
    assert [b.type for b in message.content] == ["redacted_thinking", "text", "tool_use"]
    assert message.content[1].text == "Let me check the weather."
    assert message.content[2].input == {"city": "Paris"}
    assert message.usage.output_tokens == 120
    assert message.stop_reason == "tool_use"
    # The tool loop's next request gets the exact original block back.
    sent_back = [block.model_dump(exclude_none=True) for block in message.content]
    assert restore(sent_back)[0] == ORIGINAL_BLOCK
    assert restore(sent_back)[1:] == sent_back[1:]


async def test_summarise_hands_out_a_summary_with_a_sealed_signature() -> None:
    out = await assert_split_invariant(MESSAGES, SUMMARISE, STREAM, streaming=True)
    message = accumulate(out)
    block = message.content[0]
    assert block.type == "thinking" and block.thinking.startswith("Summary:")
    assert len(block.thinking) < len(ORIGINAL_BLOCK["thinking"])
    for sentence in THINKING:
        assert sentence.strip() not in block.thinking
    assert Sealer.is_sealed(block.signature)
    assert restore([block.model_dump()])[0] == ORIGINAL_BLOCK


async def test_untouched_events_keep_their_bytes() -> None:
    out = await run(MESSAGES, STRIP, [STREAM], streaming=True)
    text_part = STREAM[
        STREAM.index(b'event: content_block_start\ndata: {"type":"content_block_start","index":1') :
    ]
    assert out.endswith(text_part)


async def test_non_stream_body() -> None:
    message = {
        **MESSAGE,
        "content": [
            ORIGINAL_BLOCK,
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
            {"type": "text", "text": "Hi"},
        ],
    }
    body = json.dumps(message).encode()
    out = json.loads(await assert_split_invariant(MESSAGES, STRIP, body, streaming=False))
    assert out["content"][0]["type"] == "redacted_thinking"
    assert out["content"][1] == {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"}  # genuine
    assert out["content"][2] == {"type": "text", "text": "Hi"}
    assert restore(out["content"])[0] == ORIGINAL_BLOCK
    assert restore(out["content"])[1] == {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"}


async def test_sealed_blocks_from_another_deployment_or_tampered_are_refused() -> None:
    out = json.loads(
        await run(
            MESSAGES,
            STRIP,
            [json.dumps({**MESSAGE, "content": [ORIGINAL_BLOCK]}).encode()],
            streaming=False,
        )
    )
    with pytest.raises(SealError):
        restore(out["content"], Sealer(b"another deployment"))
    token = out["content"][0]["data"]
    with pytest.raises(SealError):
        restore([{"type": "redacted_thinking", "data": token[:-4] + "AAAA"}])


async def test_stream_cut_inside_thinking_leaks_nothing() -> None:
    cut = STREAM[: STREAM.index(b"signature_delta")]
    out = await run(MESSAGES, STRIP, [cut], streaming=True)
    assert b"Paris" not in out and b"message_start" in out


@pytest.mark.parametrize("policy", [STRIP, SUMMARISE])
async def test_a_thinking_block_past_the_cut_off_is_dropped_unread(policy: ReasoningPolicy) -> None:
    # A hostile trace (here 200 deltas of 1,000 characters against a 4,096-character cut-off) is
    # not held: the block is handed out redacted with nothing in it, the rest of the stream intact.
    flood = "x" * 1000
    stream = sse(
        ev("message_start", message=MESSAGE),
        ev(
            "content_block_start",
            index=0,
            content_block={"type": "thinking", "thinking": "", "signature": ""},
        ),
        *(
            ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": flood})
            for _ in range(200)
        ),
        ev("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "s"}),
        ev("content_block_stop", index=0),
        ev("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "Done."}),
        ev("content_block_stop", index=1),
        ev("message_stop"),
    )
    transformer = response_transformer(
        MESSAGES, policy, streaming=True, sealer=SEALER, summariser=SUMMARISER, max_reasoning=4096
    )
    assert transformer is not None
    out = b"".join(
        [
            await transformer.feed(c)
            for c in [stream[i : i + 8192] for i in range(0, len(stream), 8192)]
        ]
    )
    out += await transformer.finish()
    assert b"xxxx" not in out and len(out) < 4096
    found = events(out)
    starts = [d["content_block"] for k, d in found if k == "content_block_start"]
    assert starts[0] == {"type": "redacted_thinking", "data": ""}
    assert starts[1]["type"] == "text"
    deltas = [d["delta"].get("text") for k, d in found if k == "content_block_delta"]
    assert deltas == ["Done."]
    assert found[-1][0] == "message_stop"


# `input_transformations` (beta thinking-binding-controls-2026-08-01): which blocks of the request
# the upstream dropped or let through unchecked, by path. It names no reasoning, so it reaches the
# client as the upstream wrote it, on `message_start` and again on the final `message_delta`
# after a server-side fallback (whose entries replace the first).
TRANSFORMATIONS = [
    {
        "type": "thinking_dropped",
        "path": "messages.1.content.0",
        "reason": "prefix_binding_mismatch",
    },
    {
        "type": "thinking_mismatch_allowed",
        "path": "messages.3.content.0",
        "reason": "prefix_binding_mismatch",
    },
]
FALLBACK = [
    {"type": "thinking_dropped", "path": "messages.1.content.0", "reason": "model_binding_mismatch"}
]


@pytest.mark.parametrize("policy", [STRIP, SUMMARISE])
async def test_input_transformations_reach_the_client_as_sent(policy: ReasoningPolicy) -> None:
    start = sse(ev("message_start", message={**MESSAGE, "input_transformations": TRANSFORMATIONS}))
    delta = sse(
        ev(
            "message_delta",
            delta={"stop_reason": "tool_use", "stop_sequence": None},
            usage={"output_tokens": 120},
            input_transformations=FALLBACK,
        )
    )
    middle = STREAM[len(sse(ev("message_start", message=MESSAGE))) :]
    middle = middle[: middle.index(b"event: message_delta")]
    stream = start + middle + delta + sse(ev("message_stop"))
    out = await assert_split_invariant(MESSAGES, policy, stream, streaming=True)
    assert out.startswith(start)
    assert out.endswith(delta + sse(ev("message_stop")))
    assert b"weather in Paris" not in out
    body = json.dumps({**MESSAGE, "content": [ORIGINAL_BLOCK], "input_transformations": FALLBACK})
    whole = json.loads(await run(MESSAGES, policy, [body.encode()], streaming=False))
    assert whole["content"][0]["signature" if policy is SUMMARISE else "data"].startswith("gg1.")
    assert whole["input_transformations"] == FALLBACK
