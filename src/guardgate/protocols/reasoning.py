"""Reasoning hardening entry points: pick the transform for an API and policy; rewrite requests.

The middleware calls `rewrite_request` on every request to an LLM endpoint (it restores sealed
reasoning from earlier turns, so it runs under every policy) and `response_transformer` on the
response when the policy is not `pass`.
"""

from __future__ import annotations

from guardgate.hardening.request_rewrite import rewrite_request
from guardgate.hardening.sealing import Sealer
from guardgate.hardening.summariser import Summariser
from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.reasoning_anthropic import (
    AnthropicBodyTransformer,
    AnthropicStreamTransformer,
)
from guardgate.protocols.reasoning_base import (
    DEFAULT_MAX_REASONING,
    ResponseTransformer,
    TransformContext,
)
from guardgate.protocols.reasoning_completions import (
    CompletionsBodyTransformer,
    CompletionsStreamTransformer,
)
from guardgate.protocols.reasoning_openai_chat import ChatBodyTransformer, ChatStreamTransformer
from guardgate.protocols.reasoning_responses import (
    ResponsesBodyTransformer,
    ResponsesStreamTransformer,
)

__all__ = ["ResponseTransformer", "response_transformer", "rewrite_request"]


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
    `rewrite_request` restores on the next request; otherwise it is dropped. `max_reasoning`:
    the most characters of reasoning held for a summary or a seal (memory stays bounded).
    """
    if policy is ReasoningPolicy.PASS:
        return None
    ctx = TransformContext(
        policy, sealer, summariser, think_open, seal_chat_reasoning, max_reasoning
    )
    if api is ApiKind.OPENAI_CHAT:
        return ChatStreamTransformer(ctx) if streaming else ChatBodyTransformer(ctx)
    if api is ApiKind.OPENAI_COMPLETIONS:
        return CompletionsStreamTransformer(ctx) if streaming else CompletionsBodyTransformer(ctx)
    if api is ApiKind.OPENAI_RESPONSES:
        return ResponsesStreamTransformer(ctx) if streaming else ResponsesBodyTransformer(ctx)
    if api is ApiKind.ANTHROPIC_MESSAGES:
        return AnthropicStreamTransformer(ctx) if streaming else AnthropicBodyTransformer(ctx)
    return None
