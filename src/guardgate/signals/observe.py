"""Builds the `Observation` of one request from its ASGI scope and parsed JSON body."""

from __future__ import annotations

import hashlib
from typing import Any

from guardgate.model import ApiKind, Observation
from guardgate.settings import GuardgateSettings
from guardgate.signals.account import AccountHasher
from guardgate.signals.network import ClientAddress, ip_prefix

_STAINLESS = (
    b"x-stainless-lang",
    b"x-stainless-package-version",
    b"x-stainless-os",
    b"x-stainless-arch",
    b"x-stainless-runtime",
    b"x-stainless-runtime-version",
)


def _short_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


class Observer:
    """Computes observations; one instance per deployment (it caches nothing per request)."""

    def __init__(self, settings: GuardgateSettings) -> None:
        self.accounts = AccountHasher(settings.secret_bytes, settings.account_header)
        self.addresses = ClientAddress(settings.trusted_proxies)

    def observe(
        self,
        api: ApiKind,
        headers: list[tuple[bytes, bytes]],
        peer: str,
        body: dict[str, Any],
        now: float,
    ) -> Observation:
        """The observation of one request; `headers` are the raw ASGI header pairs in order."""
        xff: str | None = None
        fwd: str | None = None
        user_agent = ""
        stainless: dict[bytes, bytes] = {}
        names = []
        for name, value in headers:
            names.append(name)
            if name == b"x-forwarded-for":
                xff = value.decode("latin-1") if xff is None else f"{xff},{value.decode('latin-1')}"
            elif name == b"forwarded":
                fwd = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")[:200]
            elif name in _STAINLESS:
                stainless[name] = value
        client_ip, _trusted = self.addresses.resolve(peer, xff, fwd)
        model = body.get("model")
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        n = body.get("n")
        return Observation(
            ts=now,
            api=api,
            account=self.accounts.account_of(headers),
            client_ip=client_ip,
            ip_prefix=ip_prefix(client_ip),
            model=model if isinstance(model, str) else "",
            stream=body.get("stream") is True,
            user_agent=user_agent,
            header_order_hash=_short_hash(b"\n".join(names)),
            sdk_tuple="/".join(stainless.get(k, b"").decode("latin-1") for k in _STAINLESS)
            if stainless
            else "",
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            n=n if isinstance(n, int) else 1,
            logprobs=bool(body.get("logprobs") or body.get("top_logprobs")),
        )
