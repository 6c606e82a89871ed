"""Who sent a request: the operator's account header, else the API key, always as a keyed HMAC."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from guardgate.signals.credentials import (
    KEY_HEADERS,
    QUERY_KEY_HEADER,
    Credential,
    read_credential,
)


class AccountHasher:
    """Turns a raw account identity into a stable, non-reversible id with a keyed HMAC, so that
    neither logs nor Redis ever hold a raw API key."""

    def __init__(self, secret: bytes, account_header: str = "") -> None:
        self._key = hmac.new(secret, b"guardgate/account/v1", hashlib.sha256).digest()
        self._header = account_header.lower().encode()
        self._cache: dict[bytes, str] = {}
        self.identity_headers = frozenset({*KEY_HEADERS, QUERY_KEY_HEADER, self._header} - {b""})
        """The headers `identity` reads: a request's account follows from their values alone."""

    def hash(self, identity: bytes) -> str:
        """The account id for a raw identity (24 hex chars of HMAC-SHA256)."""
        cached = self._cache.get(identity)
        if cached is not None:
            return cached
        digest = hmac.new(self._key, identity, hashlib.sha256).hexdigest()[:24]
        if len(self._cache) >= 65536:  # bound memory; keys are cheap to recompute
            self._cache.clear()
        self._cache[identity] = digest
        return digest

    def credential(self, headers: Sequence[tuple[bytes, bytes]]) -> Credential:
        """The credential in the request headers (see `read_credential`)."""
        return read_credential(headers, self._header)

    def identity(self, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
        """The raw identity in the request headers: operator header, else the API key (bearer
        token, `x-api-key`, `api-key` or a query key passed on as `QUERY_KEY_HEADER`).

        With ambiguous credentials (answered 400 at the door, see `read_credential`) it is the
        first key found, for doors that cannot answer (replay)."""
        return read_credential(headers, self._header).identity

    def account_of(self, headers: Sequence[tuple[bytes, bytes]]) -> str:
        """The account id of a request ('anonymous' when it carries no identity)."""
        ident = self.identity(headers)
        return self.hash(ident) if ident else "anonymous"
