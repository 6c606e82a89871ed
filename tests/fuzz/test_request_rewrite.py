"""Property tests of the request rewriter on arbitrary JSON objects shaped like requests: it never
raises anything but `SealError`, never mutates the client's body, and a sealed token that was
altered in any way is refused rather than opened into something else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz.corpus import FUZZ
from tests.protocols.transform_harness import SEALER

from guardgate.hardening.sealing import SealError
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import dialect_for

KEYS = st.sampled_from(
    [
        "messages",
        "input",
        "content",
        "role",
        "type",
        "thinking",
        "signature",
        "data",
        "text",
        "encrypted_content",
        "reasoning_content",
        "reasoning",
        "summary",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "model",
        "tools",
        "display",
        "include",
        "id",
        "assistant",
        "redacted_thinking",
    ]
)
TOKEN = SEALER.seal(json.dumps({"type": "thinking", "thinking": "t", "signature": "s"}).encode())
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "assistant",
            "user",
            "thinking",
            "redacted_thinking",
            "reasoning",
            TOKEN,
            "gg1.",
            "gg1.AAAA",
            TOKEN[:-2],
            "chat_reasoning",
            "enabled",
        ]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=40,
)
BODIES = st.dictionaries(KEYS, JSON, max_size=6)


@FUZZ
@given(
    body=BODIES,
    api=st.sampled_from(list(ApiKind)),
    policy=st.sampled_from(list(ReasoningPolicy)),
    drop=st.booleans(),
)
def test_rewriter_never_raises_nor_mutates(
    body: dict[str, Any], api: ApiKind, policy: ReasoningPolicy, drop: bool
) -> None:
    before = copy.deepcopy(body)
    try:
        new, changed = dialect_for(api).rewrite_request(
            body, policy=policy, sealer=SEALER, drop_logprobs=drop
        )
    except SealError:
        return
    assert body == before
    assert (new is body) == (not changed)
    json.dumps(new)  # still serialisable as the body sent upstream


@FUZZ
@given(at=st.integers(min_value=0), char=st.sampled_from("AQgw-_=.!x"), mode=st.integers(0, 3))
def test_any_alteration_of_a_sealed_token_is_refused(at: int, char: str, mode: int) -> None:
    body = TOKEN[4:]
    i = at % len(body)
    if mode == 0:
        bad = body[:i] + char + body[i + 1 :]
    elif mode == 1:
        bad = body[:i] + char + body[i:]
    elif mode == 2:
        bad = body[:i] + body[i + 1 :]
    else:
        bad = body[:i]
    token = "gg1." + bad
    try:
        opened = SEALER.open(token)
    except SealError:
        return
    # Base64 may ignore a trailing change that alters no bit: then it must open to the original.
    assert opened == SEALER.open(TOKEN)


@pytest.mark.parametrize("depth", [100, 900])
def test_deep_bodies_are_rewritten_or_refused_never_crash(depth: int) -> None:
    deep: Any = "x"
    for _ in range(depth):
        deep = [deep]
    for api in ApiKind:
        body = {"messages": [{"role": "assistant", "content": deep}], "input": deep, "logprobs": 1}
        dialect_for(api).rewrite_request(
            body, policy=ReasoningPolicy.STRIP, sealer=SEALER, drop_logprobs=True
        )
