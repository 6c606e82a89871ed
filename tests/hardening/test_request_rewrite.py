"""Request rewriting: omit what strip throws away, drop logprob parameters, restore sealed blobs."""

from __future__ import annotations

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
