"""Values that cross module boundaries: what a request tells, what the engine concludes, what to do.

Every value here is a `record` (a frozen dataclass to the type checker, cheap to build: see
`guardgate.records`) or an enum, so that it can be logged, replayed and compared without hidden
state.
"""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum

from guardgate.records import record


class ApiKind(StrEnum):
    """The wire format of an LLM endpoint."""

    OPENAI_CHAT = "openai_chat"
    OPENAI_COMPLETIONS = "openai_completions"
    OPENAI_RESPONSES = "openai_responses"
    ANTHROPIC_MESSAGES = "anthropic_messages"

    @property
    def is_anthropic(self) -> bool:
        """Whether this is Anthropic's API (the simulators and mocks pick their client by it;
        what its wire format says is its dialect's, `guardgate.protocols.dialects`)."""
        return self is ApiKind.ANTHROPIC_MESSAGES


class Tier(StrEnum):
    """How the engine classes an account; `trusted` and `blocked` are operator overrides."""

    NORMAL = "normal"
    SUSPECT = "suspect"
    EXTRACTOR = "extractor"
    TRUSTED = "trusted"
    BLOCKED = "blocked"


class ReasoningPolicy(StrEnum):
    """What the client sees of the model's chain of thought."""

    PASS = "pass"
    SUMMARISE = "summarise"
    STRIP = "strip"


class Mode(StrEnum):
    """`enforce` acts on decisions; `shadow` computes and logs them but changes nothing."""

    ENFORCE = "enforce"
    SHADOW = "shadow"


class DetectionMode(StrEnum):
    """Where detection runs: `inline` on the request path (the verdict includes this request),
    or `process`: in a detector process of its own, fed by a queue (the request path only looks
    up the latest verdict, so a verdict lags its account's traffic by the queue's delay)."""

    INLINE = "inline"
    PROCESS = "process"


class FailMode(StrEnum):
    """What to do when guardgate's own state (Redis) fails: serve anyway, or answer 503."""

    OPEN = "open"
    CLOSED = "closed"


@record
class Observation:
    """What one request tells about its sender. Never holds a raw API key or prompt text."""

    ts: float
    api: ApiKind
    account: str
    """Keyed HMAC of the account identity (operator header or API key), hex."""
    client_ip: str
    ip_prefix: str
    """The /24 (IPv4) or /48 (IPv6) network of `client_ip`."""
    model: str = ""
    stream: bool = False
    user_agent: str = ""
    header_order_hash: str = ""
    sdk_tuple: str = ""
    """The `x-stainless-*` tuple (lang, package version, os, arch, runtime) as one string."""
    tls_fingerprint: str = ""
    """Edge-provided JA4/JA3, only when the peer is a trusted proxy."""
    param_signature: str = ""
    """Hash of the sampling parameter names and values (temperature, max_tokens, ...)."""
    key_order_hash: str = ""
    tools_hash: str = ""
    system_hash: str = ""
    template_sketch: tuple[int, ...] = ()
    """MinHash signature of the normalised prompt template (numbers, names, code masked)."""
    template_hash: str = ""
    prompt_hash: str = ""
    """Hash of the exact text of the last user turn (tells a repeated prompt, such as a
    benchmark item run again, from a new one); empty without content features."""
    elicits_reasoning: bool = False
    capability: str = ""
    """Coarse capability area the prompt targets: coding, tools, reasoning, grading, chat."""
    turns: int = 1
    max_tokens: int | None = None
    n: int = 1
    logprobs: bool = False
    prompt_tokens: int = 0


@record
class Verdict:
    """The engine's conclusion about the sender of one request."""

    account: str
    cluster: str
    score: float
    tier: Tier
    reasons: tuple[str, ...] = ()
    cluster_size: int = 1


@record
class Decision:
    """What to do with one request, derived from a verdict and the settings."""

    verdict: Verdict
    reasoning_policy: ReasoningPolicy = ReasoningPolicy.PASS
    reject_status: int | None = None
    """HTTP status to answer with instead of forwarding (429, 403, 503); None forwards."""
    reject_message: str = ""
    retry_after: float | None = None
    rate_limit_headers: tuple[tuple[str, str], ...] = ()
    drop_logprobs: bool = False
    actions: tuple[str, ...] = field(default=())
    """Short names of what this decision changes (`rate_limited`, `strip_reasoning`, ...)."""
    limit: str = ""
    """For a 429 from the quotas, the limit that fired (`account_requests`, `cluster_tokens`,
    `account_concurrency`, ...): for metrics and audit lines, never for the client."""

    @property
    def rejected(self) -> bool:
        """Whether the request is answered by guardgate instead of the upstream."""
        return self.reject_status is not None
