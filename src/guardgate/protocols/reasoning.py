"""The reasoning transform of one answer: the API's dialect picks it, the policy configures it.

The middleware calls `response_transformer` on the response when the policy is not `pass`; the
request half (restoring sealed reasoning, asking the upstream to omit it) is the dialect's
`rewrite_request`, called on every request to an LLM endpoint.
"""

from __future__ import annotations

from guardgate.hardening.sealing import Sealer
from guardgate.hardening.summariser import Summariser
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import dialect_for
from guardgate.protocols.reasoning_base import (
    DEFAULT_MAX_REASONING,
    ResponseTransformer,
    TransformContext,
)

__all__ = ["ResponseTransformer", "response_transformer"]


def response_transformer(
    api: ApiKind,
    policy: ReasoningPolicy,
    *,
    streaming: bool,
    sealer: Sealer,
    summariser: Summariser,
    think_open: bool = False,
    seal_chat_reasoning: bool = False,
    max_reasoning: int = DEFAULT_MAX_REASONING,
) -> ResponseTransformer | None:
    """A fresh per-response transformer, or None when the body passes untouched.

    `streaming`: the upstream answered `text/event-stream`. `think_open`: the prompt ended inside
    a `<think>` (the chat template or a prefill opened it), so output before a `</think>` is
    reasoning; otherwise only a `<think>` at the very start opens reasoning, and a plain answer
    streams without delay. `seal_chat_reasoning`: hidden Chat `reasoning_content` / `reasoning`
    comes back as a sealed token in its field (for providers that require it back), which
    the dialect's `rewrite_request` restores on the next request; otherwise it is dropped.
    `max_reasoning`: the most characters of reasoning held for a summary or a seal (memory
    stays bounded).
    """
    if policy is ReasoningPolicy.PASS:
        return None
    ctx = TransformContext(
        policy, sealer, summariser, think_open, seal_chat_reasoning, max_reasoning
    )
    return dialect_for(api).response_transformer(ctx, streaming=streaming)
