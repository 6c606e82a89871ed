"""Issue 18, finding 1: the account is the credential the upstream authenticates; a request
with more than one is answered 400 before the upstream. Real sidecars under uvicorn in front of
an app with vLLM's routes and auth rule, and the same app with the middleware mounted."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.vllm_like import DOORS, calls, guarded, vllm_like_app

from guardgate.testing import ServerThread

CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "What is 6*7?"}]}
MESSAGES: dict[str, Any] = {
    "model": "claude-mock",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "What is 6*7?"}],
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    with ServerThread(vllm_like_app()) as server:
        yield server


@pytest.mark.parametrize("door", DOORS)
def test_a_fresh_second_authorization_header_does_not_escape_the_quota(
    door: str, upstream: ServerThread
) -> None:
    # Before: guardgate counted the last header, the upstream the first: 10 of 10 answered.
    with guarded(door, upstream, account_rpm=3) as gate, httpx.Client(timeout=10) as http:
        url = gate.url + "/v1/chat/completions"
        replies = [
            http.post(
                url,
                json=CHAT,
                headers=[
                    ("authorization", "Bearer sk-real"),
                    ("authorization", f"Bearer sk-{secrets.token_hex(8)}"),
                ],
            )
            for _ in range(10)
        ]
        assert {r.status_code for r in replies} == {400}
        error = replies[0].json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "authorization" in error["message"] and "sk-" not in error["message"]
        alone = [
            http.post(url, json=CHAT, headers={"authorization": "Bearer sk-real"}).status_code
            for _ in range(4)
        ]
        assert alone == [200, 200, 200, 429]


@pytest.mark.parametrize("door", DOORS)
def test_conflicting_credential_headers_get_400_before_the_upstream(
    door: str, upstream: ServerThread
) -> None:
    with guarded(door, upstream, account_header="x-org") as gate, httpx.Client(timeout=10) as http:
        before = len(calls)
        conflicting = [
            {"authorization": "Bearer sk-real", "x-api-key": "sk-other"},
            {"authorization": "Bearer sk-real", "api-key": "sk-other"},
        ]
        for headers in conflicting:
            reply = http.post(gate.url + "/v1/chat/completions", json=CHAT, headers=headers)
            assert reply.status_code == 400, headers
        repeated = [("authorization", "Bearer sk-real"), ("x-org", "a"), ("x-org", "b")]
        reply = http.post(gate.url + "/v1/chat/completions", json=CHAT, headers=repeated)
        assert reply.status_code == 400
        # Anthropic's endpoint answers in Anthropic's error format.
        reply = http.post(
            gate.url + "/v1/messages",
            json=MESSAGES,
            headers={"x-api-key": "sk-real", "authorization": "Bearer sk-other"},
        )
        assert reply.status_code == 400
        assert reply.json()["type"] == "error"
        assert reply.json()["error"]["type"] == "invalid_request_error"
        assert len(calls) == before  # none reached the upstream
        # The same key in two places is one credential.
        same = {"authorization": "Bearer sk-real", "x-api-key": "sk-real"}
        assert http.post(gate.url + "/v1/chat/completions", json=CHAT, headers=same).is_success


@pytest.mark.parametrize("door", DOORS)
def test_query_and_api_key_header_keys_are_accounts_of_their_own(
    door: str, upstream: ServerThread
) -> None:
    # Before: every such request fell into one shared "anonymous" account, so one client
    # exhausted the quota of every other.
    with guarded(door, upstream, account_rpm=2) as gate, httpx.Client(timeout=10) as http:
        url = gate.url + "/v1/chat/completions"
        auth = {"authorization": "Bearer sk-real"}  # what the vLLM-like upstream checks
        first = [
            http.post(url + "?api_key=tenant-a", json=CHAT, headers=auth).status_code
            for _ in range(3)
        ]
        assert first == [400, 400, 400]  # two different keys: the bearer and the query's
        first = [
            http.post(url + "?api_key=tenant-a", json=CHAT, headers={}).status_code
            for _ in range(3)
        ]
        assert first[2] == 429  # the third of an account of its own
        assert http.post(url + "?key=tenant-b", json=CHAT).status_code != 429
        assert http.post(url, json=CHAT, headers={"api-key": "tenant-c"}).status_code != 429
        repeated = http.post(url + "?api_key=tenant-d&api_key=tenant-e", json=CHAT)
        assert repeated.status_code == 400
