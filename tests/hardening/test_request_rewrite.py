"""Request rewriting: omit what strip throws away, drop logprob parameters, restore sealed blobs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guardgate.hardening.sealing import Sealer, SealError
from guardgate.hardening.summariser import LocalSummariser
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import dialect_for
from guardgate.protocols.reasoning import response_transformer

SEALER = Sealer(b"secret")


def rewrite(api: ApiKind, body: dict[str, Any], policy: ReasoningPolicy, drop: bool = False):
    return dialect_for(api).rewrite_request(body, policy=policy, sealer=SEALER, drop_logprobs=drop)


def test_anthropic_strip_asks_for_omitted_thinking_and_leaves_the_client_body_alone() -> None:
    body = {"model": "c", "thinking": {"type": "enabled", "budget_tokens": 2048}, "messages": []}
    new, changed = rewrite(ApiKind.ANTHROPIC_MESSAGES, body, ReasoningPolicy.STRIP)
    assert changed
    assert new["thinking"] == {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert list(new) == list(body)  # key order kept
    # Summarise needs the text to summarise it; pass changes nothing.
    for policy in (ReasoningPolicy.SUMMARISE, ReasoningPolicy.PASS):
        assert rewrite(ApiKind.ANTHROPIC_MESSAGES, body, policy) == (body, False)


def test_responses_strip_drops_the_summary_request() -> None:
    body = {"model": "o4", "input": "hi", "reasoning": {"effort": "high", "summary": "auto"}}
    new, changed = rewrite(ApiKind.OPENAI_RESPONSES, body, ReasoningPolicy.STRIP)
    assert changed and new["reasoning"] == {"effort": "high"}


def test_drop_logprobs() -> None:
    chat = {
        "model": "m",
        "messages": [],
        "logprobs": True,
        "top_logprobs": 5,
        "logit_bias": {"1": 5},
    }
    new, changed = rewrite(ApiKind.OPENAI_CHAT, chat, ReasoningPolicy.PASS, drop=True)
    assert changed and new == {"model": "m", "messages": []}
    responses = {
        "model": "m",
        "input": "x",
        "top_logprobs": 3,
        "include": ["message.output_text.logprobs", "reasoning.encrypted_content"],
    }
    new, _ = rewrite(ApiKind.OPENAI_RESPONSES, responses, ReasoningPolicy.PASS, drop=True)
    assert new == {"model": "m", "input": "x", "include": ["reasoning.encrypted_content"]}
    assert rewrite(ApiKind.OPENAI_CHAT, chat, ReasoningPolicy.STRIP) == (chat, False)


def test_foreign_or_tampered_tokens_raise() -> None:
    token = Sealer(b"other").seal(b'{"type":"thinking","thinking":"x","signature":"s"}')
    body = {
        "messages": [
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": token}]}
        ]
    }
    with pytest.raises(SealError):
        rewrite(ApiKind.ANTHROPIC_MESSAGES, body, ReasoningPolicy.PASS)
    wrong_kind = SEALER.seal(b'{"type":"text","text":"injected"}')
    body = {
        "input": [{"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": wrong_kind}]
    }
    with pytest.raises(SealError):
        rewrite(ApiKind.OPENAI_RESPONSES, body, ReasoningPolicy.PASS)


def test_pass_needs_no_transformer() -> None:
    for api in ApiKind:
        assert (
            response_transformer(
                api,
                ReasoningPolicy.PASS,
                streaming=True,
                sealer=SEALER,
                summariser=LocalSummariser(),
            )
            is None
        )


def test_anthropic_display_updates_is_omitted_under_strip() -> None:
    # 2026: `display: "updates"` (beta thinking-display-updates-2026-08-18) returns the progress
    # notes written between tool calls as thinking text; under strip they are not asked for.
    body = {"model": "c", "thinking": {"type": "adaptive", "display": "updates"}, "messages": []}
    new, changed = rewrite(ApiKind.ANTHROPIC_MESSAGES, body, ReasoningPolicy.STRIP)
    assert changed and new["thinking"] == {"type": "adaptive", "display": "omitted"}


def test_responses_compaction_items_from_the_provider_pass_untouched() -> None:
    # An encrypted compaction item the client sends back is the provider's own: not a guardgate
    # seal, so it goes upstream as it came, under every policy.
    item = {"type": "compaction", "id": "cmp_1", "encrypted_content": "gAAAA-provider-blob"}
    body = {"model": "o4", "input": [{"role": "user", "content": "hi"}, item]}
    for policy in ReasoningPolicy:
        new, _changed = rewrite(ApiKind.OPENAI_RESPONSES, body, policy)
        assert new["input"][1] == item


def test_anthropic_between_tools_goes_upstream_as_sent_under_every_policy() -> None:
    # 2026 (Claude Sonnet 5.5): `between_tools` takes no other field; `display` beside it is a
    # 400, so strip cannot ask for omitted thinking here: the progress notes come back with their
    # text and the response transform hides them.
    body = {"model": "claude-sonnet-5-5", "thinking": {"type": "between_tools"}, "messages": []}
    for policy in ReasoningPolicy:
        assert rewrite(ApiKind.ANTHROPIC_MESSAGES, body, policy) == (body, False)


def test_anthropic_block_binding_stays_beside_the_omitted_display() -> None:
    # `thinking.block_binding` (beta thinking-binding-controls-2026-08-01) is the client's choice
    # of what the upstream does with a block that fails its binding check: kept as sent.
    binding = {"prefix_mismatch_behavior": "drop_block"}
    body = {"model": "c", "thinking": {"type": "adaptive", "block_binding": binding}}
    new, changed = rewrite(ApiKind.ANTHROPIC_MESSAGES, body, ReasoningPolicy.STRIP)
    assert changed
    assert new["thinking"] == {"type": "adaptive", "block_binding": binding, "display": "omitted"}


def test_anthropic_restored_blocks_keep_their_places() -> None:
    # The upstream's `input_transformations` name blocks by `messages.{i}.content.{j}` of the
    # request it got: restoring must replace a sealed block in place, so those paths point at
    # the very block the client sent.
    original = {"type": "thinking", "thinking": "t", "signature": "upstream-sig"}
    sealed = {"type": "redacted_thinking", "data": SEALER.seal(json.dumps(original).encode())}
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "391"}
    messages = [
        {"role": "user", "content": "17 * 23?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me."}, sealed, tool_use]},
        {"role": "user", "content": [result]},
    ]
    new, changed = rewrite(
        ApiKind.ANTHROPIC_MESSAGES, {"model": "c", "messages": messages}, ReasoningPolicy.PASS
    )
    assert changed
    text = {"type": "text", "text": "Let me."}
    assert new["messages"][1]["content"] == [text, original, tool_use]
    assert new["messages"][0] == messages[0] and new["messages"][2] == messages[2]


def test_responses_strip_keeps_reasoning_context_and_mode() -> None:
    # 2026 (gpt-5.6): `reasoning.context` says which earlier reasoning items the model reads
    # (`all_turns`, `current_turn`, `auto`) and `reasoning.mode` how it reasons; strip drops only
    # the summary request.
    reasoning = {"effort": "high", "summary": "auto", "context": "all_turns", "mode": "pro"}
    body = {"model": "gpt-5.6", "input": "hi", "reasoning": reasoning}
    new, changed = rewrite(ApiKind.OPENAI_RESPONSES, body, ReasoningPolicy.STRIP)
    assert changed
    assert new["reasoning"] == {"effort": "high", "context": "all_turns", "mode": "pro"}
