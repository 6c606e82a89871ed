"""Builds the `Observation` of one request from its ASGI headers, peer and parsed JSON body."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from guardgate.model import ApiKind, DetectionMode, Observation
from guardgate.records import record
from guardgate.settings import GuardgateSettings
from guardgate.signals.account import AccountHasher
from guardgate.signals.config import SignalConfig
from guardgate.signals.content import TemplateSketcher, capability, clip, elicits_reasoning
from guardgate.signals.hashing import short_hash
from guardgate.signals.network import ClientAddress, ip_prefix
from guardgate.signals.shape import request_shape

_STAINLESS = (
    b"x-stainless-lang",
    b"x-stainless-package-version",
    b"x-stainless-os",
    b"x-stainless-arch",
    b"x-stainless-runtime",
    b"x-stainless-runtime-version",
)
_STAINLESS_SET = frozenset(_STAINLESS)
# Headers a proxy or the edge adds: they say nothing about the client's own software, and a
# request seen with and without a proxy in front must give the same header order.
_PROXY_ADDED = frozenset(
    {b"x-forwarded-for", b"forwarded", b"x-real-ip", b"via", b"x-request-id", b"traceparent"}
)
_PROXY_PREFIXES = (b"x-forwarded-", b"cf-", b"x-amzn-", b"x-envoy-", b"x-cloud-trace")
_DIGITS = re.compile(r"\d+")
_HEADER_CACHE = 4096
"""Distinct senders remembered: a client sends the same headers on every request, so it pays
for their signals (HMAC, client IP, hashes) once. A sender is keyed on its peer, its header
names in order and the values that give signals; other values (`content-length`, retry counts,
trace ids) change from request to request and say nothing about the sender."""

_TEXT_CACHE = 4096
"""Distinct prompts and system prompts whose features are remembered (retries, evaluation
runs and templated apps repeat them). A 64-bit SipHash with its per-process key collides by
chance about once in 2**64 / 4096 look-ups."""


@record
class Sender:
    """Who sent a request: the signals its header list and peer give, whatever the body."""

    account: str
    client_ip: str
    ip_prefix: str
    user_agent: str
    header_order_hash: str
    sdk_tuple: str
    tls_fingerprint: str
    credential_free: tuple[tuple[bytes, bytes], ...]
    """The headers with every value blanked but those that give signals other than the account
    (only when a detector process gets them: `GUARDGATE_DETECTION=process`)."""
    credential_problem: str | None = None
    """Why the request's credentials are ambiguous (the door answers 400), or None."""


def _system_hash(text: str) -> str:
    """System prompts are hashed with digits masked, so that a prompt embedding today's date
    still hashes the same tomorrow."""
    return short_hash(_DIGITS.sub("0", text)) if text else ""


class Observer:
    """Computes observations; one instance per deployment. Per-request work is a single pass over
    the headers, a few small hashes and one template sketch of a clipped prompt."""

    def __init__(self, settings: GuardgateSettings, config: SignalConfig | None = None) -> None:
        self.config = config if config is not None else SignalConfig.from_settings(settings)
        self.accounts = AccountHasher(settings.secret_bytes, settings.account_header)
        self.addresses = ClientAddress(settings.trusted_proxies)
        self.sketcher = TemplateSketcher()
        cfg = self.config
        self._edge = {
            cfg.ja4_header.encode(): "ja4",
            cfg.ja3_header.encode(): "ja3",
            cfg.http2_header.encode(): "h2",
        }
        # The one header a trusted proxy names the client in (GUARDGATE_FORWARDED_HEADER).
        self._forwarded = settings.forwarded_header.encode()
        self._rfc7239 = self._forwarded == b"forwarded"
        skip = set(_PROXY_ADDED)
        skip.add(self._forwarded)
        skip.update(self._edge)
        self._skip = frozenset(skip)
        # The headers whose values give signals: the rest only by their names.
        told = {self._forwarded, b"user-agent", *_STAINLESS, *self._edge}
        self._told = frozenset(told)
        self._valued = self._told | self.accounts.identity_headers
        self._by_headers: dict[tuple[object, ...], Sender] = {}
        self._feeds_detector = settings.detection is DetectionMode.PROCESS
        # Keyed by the text's hash, not the text: no prompt is held in memory.
        self._by_prompt: dict[tuple[int, int], tuple[tuple[int, ...], str, bool, str, str]] = {}
        self._by_system: dict[tuple[int, int], tuple[str, bool]] = {}

    def observe(
        self,
        api: ApiKind,
        headers: Sequence[tuple[bytes, bytes]],
        peer: str,
        body: dict[str, Any],
        now: float,
        *,
        account: str | None = None,
        sender: Sender | None = None,
    ) -> Observation:
        """The observation of one request; `headers` are the raw ASGI header pairs in order.

        `account`, when given, is the sender's id already derived from its credentials (the
        detector process gets the headers with the credentials blanked); `sender`, when given,
        is `sender(headers, peer)` already worked out (by the door)."""
        known = sender if sender is not None else self.sender(headers, peer)
        shape = request_shape(api, body)
        system_hash, system_elicits = self._system(shape.system_text)
        sketch: tuple[int, ...] = ()
        template_hash = ""
        prompt_hash = ""
        elicits = False
        area = ""
        if self.config.content:
            sketch, template_hash, elicits, area, prompt_hash = self._prompt(shape.prompt_text)
            elicits = elicits or system_elicits
            if shape.has_tools:
                area = "tools"
        model = body.get("model")
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        if max_tokens is None:
            max_tokens = body.get("max_output_tokens")
        n = body.get("n")
        return Observation(
            ts=now,
            api=api,
            account=known.account if account is None else account,
            client_ip=known.client_ip,
            ip_prefix=known.ip_prefix,
            model=model if isinstance(model, str) else "",
            stream=body.get("stream") is True,
            user_agent=known.user_agent,
            header_order_hash=known.header_order_hash,
            sdk_tuple=known.sdk_tuple,
            tls_fingerprint=known.tls_fingerprint,
            param_signature=shape.param_signature,
            key_order_hash=shape.key_order_hash,
            tools_hash=shape.tools_hash,
            system_hash=system_hash,
            template_sketch=sketch,
            template_hash=template_hash,
            prompt_hash=prompt_hash,
            elicits_reasoning=elicits or shape.reasoning_requested,
            capability=area,
            turns=shape.turns,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            n=n if isinstance(n, int) else 1,
            logprobs=bool(
                body.get("logprobs") or body.get("top_logprobs") or body.get("prompt_logprobs")
            ),
        )

    def sender(self, headers: Sequence[tuple[bytes, bytes]], peer: str) -> Sender:
        """The sender of a request with these headers from this peer (the request path's part of
        observing when a detector process observes the rest: its account, and the headers with
        their credentials blanked for the detector), worked out once per distinct header list
        and peer."""
        valued = self._valued
        # A loop, not a list comprehension: one is a function call of its own on Python 3.11
        # (~1.2 k instructions more a request).
        parts: list[object] = [peer]
        for pair in headers:
            name = pair[0]
            parts.append(pair if name in valued else name)
        try:
            key: tuple[object, ...] | None = tuple(parts)
            known = self._by_headers.get(key)  # type: ignore[arg-type]
        except TypeError:  # header pairs given as lists: nothing to key on
            key = known = None
        if known is None:
            known = self._header_signals(headers, peer)
            if key is not None:
                if len(self._by_headers) >= _HEADER_CACHE:
                    self._by_headers.clear()  # bounded; recomputing is only slower
                self._by_headers[key] = known
        return known

    def _prompt(self, text: str) -> tuple[tuple[int, ...], str, bool, str, str]:
        """`(sketch, template_hash, elicits_reasoning, capability without tools, prompt_hash)` of
        a prompt."""
        key = (hash(text), len(text))
        known = self._by_prompt.get(key)
        if known is None:
            sketch, template_hash = self.sketcher.sketch(text)
            # The head and tail are where an ask sits; matching them only bounds the cost.
            prompt = clip(text).lower()
            exact = (
                hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()
                if text
                else ""
            )
            known = (
                sketch,
                template_hash,
                elicits_reasoning(prompt),
                capability(prompt, False),
                exact,
            )
            if len(self._by_prompt) >= _TEXT_CACHE:
                self._by_prompt.clear()
            self._by_prompt[key] = known
        return known

    def _system(self, text: str) -> tuple[str, bool]:
        """`(system_hash, elicits_reasoning)` of a system prompt (the latter only with content
        features on)."""
        key = (hash(text), len(text))
        known = self._by_system.get(key)
        if known is None:
            elicits = self.config.content and elicits_reasoning(clip(text).lower())
            known = (_system_hash(text), elicits)
            if len(self._by_system) >= _TEXT_CACHE:
                self._by_system.clear()
            self._by_system[key] = known
        return known

    def _header_signals(self, headers: Sequence[tuple[bytes, bytes]], peer: str) -> Sender:
        """What the headers and the peer say, in one pass over the headers."""
        chain: str | None = None
        forwarded = self._forwarded
        user_agent = ""
        stainless: dict[bytes, bytes] = {}
        edge: dict[str, str] = {}
        names = []
        skip = self._skip
        for name, value in headers:
            if name not in skip and not name.startswith(_PROXY_PREFIXES):
                names.append(name)
            if name == forwarded:
                # Repeated lines of a list header are one list (RFC 9110 5.3).
                text = value.decode("latin-1")
                chain = text if chain is None else f"{chain},{text}"
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")[:200]
            elif name in _STAINLESS_SET:
                stainless[name] = value
            elif name in self._edge:
                edge[self._edge[name]] = value.decode("latin-1").strip()[:200]
        if self._rfc7239:
            client_ip, trusted = self.addresses.resolve(peer, None, chain)
        else:
            client_ip, trusted = self.addresses.resolve(peer, chain, None)
        tls = ""
        if trusted and edge:
            # JA4 when the edge gives it (it survives TLS extension shuffling); JA3 otherwise.
            tls = edge.get("ja4") or edge.get("ja3", "")
            if "h2" in edge:
                tls = f"{tls}|{edge['h2']}"
        credential = self.accounts.credential(headers)
        return Sender(
            account=self.accounts.hash(credential.identity) if credential.identity else "anonymous",
            client_ip=client_ip,
            ip_prefix=ip_prefix(client_ip),
            user_agent=user_agent,
            header_order_hash=hashlib.blake2b(b",".join(names), digest_size=8).hexdigest(),
            sdk_tuple="/".join(stainless.get(k, b"").decode("latin-1") for k in _STAINLESS)
            if stainless
            else "",
            tls_fingerprint=tls,
            credential_free=tuple(
                (name, value if name in self._told else b"") for name, value in headers
            )
            if self._feeds_detector
            else (),
            credential_problem=credential.problem,
        )
