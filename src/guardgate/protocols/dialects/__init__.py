"""One `Dialect` per LLM API: everything that depends on the wire format, asked of one object.

`dialect_for(api)` is the one lookup; callers ask the dialect instead of switching on `ApiKind`.
"""

from __future__ import annotations

from guardgate.model import ApiKind
from guardgate.protocols.dialects._base import Dialect, text_of
from guardgate.protocols.dialects.anthropic_messages import AnthropicMessages
from guardgate.protocols.dialects.openai_chat import OpenAIChat
from guardgate.protocols.dialects.openai_completions import OpenAICompletions
from guardgate.protocols.dialects.openai_responses import OpenAIResponses

__all__ = ["DIALECTS", "Dialect", "dialect_for", "text_of"]

DIALECTS: dict[ApiKind, Dialect] = {
    dialect.api: dialect
    for dialect in (OpenAIChat(), OpenAICompletions(), OpenAIResponses(), AnthropicMessages())
}
"""Every API's dialect, by API."""


def dialect_for(api: ApiKind) -> Dialect:
    """The dialect of `api`."""
    return DIALECTS[api]
