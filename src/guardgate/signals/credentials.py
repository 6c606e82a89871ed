"""Which credential a request carries: the one the upstream will authenticate, or none at all
when the request carries more than one.

Upstreams disagree on which of several credentials counts: Starlette's `Headers.get` (and so
vLLM's `--api-key` check) reads the first `Authorization`, other servers the last, Anthropic's
reads `x-api-key`, Azure's `api-key`, Google's the `?key=` query parameter. A gateway that
picks one while the upstream picks another can be walked around with a second, fresh key per
request. So guardgate never picks: a request whose credentials are repeated or disagree is
answered 400 before the upstream, and the account is the one credential left.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from guardgate.records import record

__all__ = [
    "KEY_HEADERS",
    "QUERY_KEY_HEADER",
    "QUERY_KEY_NAMES",
    "Credential",
    "CredentialReader",
    "read_credential",
]

KEY_HEADERS = frozenset({b"authorization", b"x-api-key", b"api-key"})
"""Headers that carry an API key: OpenAI-style bearer tokens, Anthropic's and Azure's."""
QUERY_KEY_NAMES = frozenset({"api_key", "api-key", "apikey", "key"})
"""Query parameters that carry an API key (`?key=` as Google's APIs take it)."""
QUERY_KEY_HEADER = b":query-key"
"""The pseudo-header a query-string key is passed on as, inside guardgate only: a name with a
colon cannot arrive from a client as a real HTTP/1.1 header (it is not a token character), and
HTTP/2 servers strip pseudo-headers before the ASGI scope."""


@record
class Credential:
    """The raw identity of a request (`h:`/`k:` prefixed, empty when none) and, when its
    credentials are ambiguous, why (the 400 message; the identity is then not to be used)."""

    identity: bytes
    problem: str | None = None


def read_credential(headers: Sequence[tuple[bytes, bytes]], account_header: bytes) -> Credential:
    """The credential in `headers` (raw ASGI pairs, query keys as `QUERY_KEY_HEADER` pairs).

    The operator's account header, when configured and present, names the account. Otherwise
    the API key does: a bearer token, `x-api-key`, `api-key` or a query key, the same key in
    any of them being the same account. Any credential header given twice, or two different
    keys, is ambiguous.
    """
    seen: set[bytes] = set()
    named = b""
    keys: list[bytes] = []
    problem: str | None = None
    for name, value in headers:
        if name in KEY_HEADERS or name == QUERY_KEY_HEADER:
            key = value.strip()
            if name == b"authorization" and key[:7].lower() == b"bearer ":
                key = key[7:].strip()
            if key and key not in keys:
                keys.append(key)
        elif account_header and name == account_header:
            named = value.strip()
        else:
            continue
        if name in seen and problem is None:
            shown = "an API key in the query string" if name == QUERY_KEY_HEADER else name.decode()
            problem = f"The request carries {shown} more than once; send one credential."
        seen.add(name)
    if problem is None and len(keys) > 1:
        problem = "The request carries different API keys in different places; send one."
    if account_header and account_header in seen:
        identity = b"h:" + named if named else b""
    else:
        identity = b"k:" + keys[0] if keys else b""
    return Credential(identity, problem)


class CredentialReader:
    """Reads the credential of an ASGI request, query-string keys included; one per deployment."""

    def __init__(self, account_header: str = "") -> None:
        self._header = account_header.lower().encode()

    def headers(self, scope: MutableMapping[str, Any]) -> list[tuple[bytes, bytes]]:
        """The request's headers with any query-string key appended as a `QUERY_KEY_HEADER`
        pair (the same list when the query holds none), for the account to be read from."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        query = scope.get("query_string")
        if not query or not isinstance(query, bytes):
            return headers
        found = [
            (QUERY_KEY_HEADER, value.encode("latin-1"))
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            if name.lower() in QUERY_KEY_NAMES
        ]
        return [*headers, *found] if found else headers

    def read(self, headers: Sequence[tuple[bytes, bytes]]) -> Credential:
        """The credential in headers from `headers()`."""
        return read_credential(headers, self._header)
