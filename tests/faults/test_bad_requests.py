"""Bad requests through a real sidecar: each gets the provider's own 4xx, or passes as the provider
would take it; none reaches the client as a 5xx, none costs an upstream call it should not, and a
client cannot choose its own address, fingerprint, account or cluster."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.admin.admin_client import PREFIX, TOKEN
from tests.faults.sidecars import ObservedSidecar, observed_sidecar, raw_exchange, status_of
from tests.gateway import running_mock

from guardgate.admin import app as admin_app
from guardgate.testing import ServerThread

CHAT = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": "Hi there"}]}
MESSAGES = {
    "model": "claude-mock-1",
    "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "messages": [{"role": "user", "content": "Count to ten."}],
}


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


@pytest.fixture(scope="module")
def gate(mock: ServerThread) -> Iterator[ObservedSidecar]:
    # Strip for everyone, so every request also runs the request rewriter and the transforms.
    with observed_sidecar(
        mock.url,
        reasoning_policy_normal="strip",
        body_read_timeout=0.5,
        max_body_bytes=64 * 1024,
        admin_token=TOKEN,
    ) as sidecar:
        yield sidecar


def forwarded(mock: ServerThread) -> list[Any]:
    requests: list[Any] = httpx.get(mock.url + "/mock/requests").json()
    return requests


def post(url: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(url, content=content, headers=headers, timeout=10)


def nested(depth: int) -> bytes:
    """A chat request whose user content is `depth` nested lists deep."""
    inner = "[" * depth + "]" * depth
    return ('{"model":"gpt-4o","messages":[{"role":"user","content":' + inner + "}]}").encode()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_deeply_nested_json_is_a_4xx_never_a_5xx(
    gate: ObservedSidecar, mock: ServerThread, path: str
) -> None:
    httpx.post(mock.url + "/mock/reset")
    # Deeper than Python's json module can parse: guardgate cannot judge it, so 400, not sent on.
    for raw in (b"[" * 60_000, nested(25_000), b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        r = post(gate.url + path, raw, **{"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert forwarded(mock) == []
    # Deep but parseable: judged and passed on (the provider answers as it will), never a 5xx.
    for depth in (200, 900):
        r = post(gate.url + path, nested(depth), **{"content-type": "application/json"})
        assert r.status_code < 500, (depth, r.status_code, r.text[:200])
    assert httpx.post(gate.url + "/v1/chat/completions", json=CHAT).status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "",
    ],
)
def test_wrong_content_types(gate: ObservedSidecar, mock: ServerThread, content_type: str) -> None:
    httpx.post(mock.url + "/mock/reset")
    headers = {"content-type": content_type} if content_type else {}
    # A form or multipart body is not JSON: 400 in the provider's shape, never forwarded.
    form = b'--x\r\ncontent-disposition: form-data; name="a"\r\n'
    for raw in (b"model=gpt-4o&messages=hi", form):
        r = post(gate.url + "/v1/chat/completions", raw, **headers)
        assert r.status_code == 400
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert forwarded(mock) == []
    # A JSON body under a wrong label is still judged like any other, then forwarded.
    r = post(gate.url + "/v1/chat/completions", json.dumps(CHAT).encode(), **headers)
    assert r.status_code == 200
    assert "reasoning_content" not in r.json()["choices"][0]["message"]  # judged and hardened


def test_declared_length_over_the_limit_is_413_before_the_body_arrives(
    gate: ObservedSidecar, mock: ServerThread
) -> None:
    httpx.post(mock.url + "/mock/reset")
    head = (
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100000000\r\n\r\n"
    )
    reply = raw_exchange(gate.port, head + b'{"model":', timeout=3)
    assert status_of(reply) == 413
    assert b"request_too_large" in reply
    assert forwarded(mock) == []


def test_chunked_body_that_never_ends_is_408(gate: ObservedSidecar, mock: ServerThread) -> None:
    httpx.post(mock.url + "/mock/reset")
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    started = time.monotonic()
    # One chunk arrives, then nothing: no terminating zero-size chunk ever comes.
    reply = raw_exchange(gate.port, head + b'9\r\n{"model":\r\n', timeout=5)
    assert status_of(reply) == 408
    assert b"invalid_request_error" in reply
    assert time.monotonic() - started < 3
    assert forwarded(mock) == []


def test_headers_with_odd_encodings(gate: ObservedSidecar, mock: ServerThread) -> None:
    body = json.dumps(CHAT).encode()
    odd: list[tuple[bytes, bytes]] = [
        (b"authorization", b"Bearer sk-\xff\xfe\x80caf\xc3\xa9"),
        (b"user-agent", "Mozilla/5.0 (ünïcödé ✓) ".encode() + b"\x80\xff"),
        (b"x-stainless-lang", b"py\tthon"),  # (NUL or DEL: refused by the HTTP parser)
        (b"x-stainless-os", b"\xe2\x80\xae" * 50),
        (b"x-forwarded-for", b"\xff\xfe, 10.0.0.\xff, [::1"),
        (b"forwarded", b'for="[zz::1]:80";proto=\xff'),
        (b"x-ja4", b"\xc0\xc1" * 100),
        (b"x-api-key", b""),
        (b"accept-encoding", b"\xff"),
        (b"x-long", b"v" * 7000),
    ]
    for name, value in odd:
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + name
            + b": "
            + value
            + b"\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        reply = raw_exchange(gate.port, request)
        assert status_of(reply) == 200, (name, reply[:300])
        assert b"mock reply" in reply
        if name == b"authorization":
            account = gate.last().account
            assert account not in ("", "anonymous") and len(account) >= 16
            assert b"sk-" not in json.dumps(gate.last().__repr__()).encode()


def test_spoofed_forwarding_and_edge_headers_from_an_untrusted_peer_are_ignored(
    gate: ObservedSidecar,
) -> None:
    key = {"authorization": "Bearer sk-spoof-test-0001"}
    plain = httpx.post(gate.url + "/v1/chat/completions", json=CHAT, headers=key)
    assert plain.status_code == 200
    honest = gate.last()
    spoofs = [
        {"x-forwarded-for": "203.0.113.7"},
        {"x-forwarded-for": "198.51.100.1, 203.0.113.7"},
        {"forwarded": "for=203.0.113.9;proto=https"},
        {"x-real-ip": "203.0.113.10"},
        {"x-ja4": "t13d1516h2_8daaf6152771_e5627efa2ab1", "x-ja3": "771,4865-4866,0-23,29,0"},
        {"cf-connecting-ip": "203.0.113.11", "x-http2-fingerprint": "1:65536;4:131072|m,a,s,p"},
    ]
    for spoof in spoofs:
        r = httpx.post(gate.url + "/v1/chat/completions", json=CHAT, headers={**key, **spoof})
        assert r.status_code == 200
        obs = gate.last()
        assert obs.client_ip == "127.0.0.1", spoof
        assert obs.ip_prefix == "127.0.0.0/24"
        assert obs.tls_fingerprint == ""
        # The same client with a forged header is the same account, with the same fingerprint.
        assert obs.account == honest.account
        assert obs.header_order_hash == honest.header_order_hash
    verdicts = gate.app.deployment.detection
    assert verdicts is not None


def test_forwarding_headers_are_believed_from_a_trusted_proxy(mock: ServerThread) -> None:
    # The control for the test above: the same headers from a trusted peer do count.
    with observed_sidecar(mock.url, trusted_proxies="127.0.0.0/8") as gate:
        headers = {"x-forwarded-for": "203.0.113.7", "x-ja4": "t13d1516h2_8daaf6152771"}
        assert httpx.post(gate.url + "/v1/chat/completions", json=CHAT, headers=headers).is_success
        obs = gate.last()
        assert obs.client_ip == "203.0.113.7"
        assert obs.tls_fingerprint.startswith("t13d1516h2")


def test_admin_without_or_with_a_wrong_token_is_401_compared_in_constant_time(
    gate: ObservedSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(admin_app.hmac, "compare_digest", spy)
    url = gate.url + PREFIX + "/api/clusters"
    wrong = ["", "Bearer", "Bearer " + TOKEN[:-1] + "\xe9", "Bearer " + TOKEN + "x", TOKEN]
    assert httpx.get(url).status_code == 401
    for value in wrong:
        r = httpx.get(url, headers={"authorization": value.encode("latin-1")})  # type: ignore[dict-item]
        assert r.status_code == 401, value
        assert TOKEN not in r.text
    assert httpx.get(url, headers={"authorization": "Bearer " + TOKEN}).status_code == 200
    # Every check, right or wrong, went through the constant-time compare.
    assert len(calls) == len(wrong) + 2


def test_tampered_sealed_thinking_is_400_and_never_forwarded(
    gate: ObservedSidecar, mock: ServerThread
) -> None:
    first = httpx.post(gate.url + "/v1/messages", json=MESSAGES, timeout=10)
    assert first.status_code == 200
    blocks = first.json()["content"]
    sealed = next(b for b in blocks if b["type"] == "redacted_thinking")
    token: str = sealed["data"]
    assert token.startswith("gg1.")
    body_at = len("gg1.")
    variants = [
        token[:body_at] + ("A" if token[body_at] != "A" else "B") + token[body_at + 1 :],
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token[: len(token) // 2],
        token + "AAAA",
        "gg1.",
        "gg1.!!!not-base64!!!",
        "gg1." + "A" * 40,
    ]
    for bad in variants:
        httpx.post(mock.url + "/mock/reset")
        blocks_back = [{**b, "data": bad} if b is sealed else b for b in blocks]
        follow_up = {
            **MESSAGES,
            "messages": [
                *MESSAGES["messages"],  # type: ignore[list-item]
                {"role": "assistant", "content": blocks_back},
                {"role": "user", "content": "go on"},
            ],
        }
        r = httpx.post(gate.url + "/v1/messages", json=follow_up, timeout=10)
        assert r.status_code == 400, bad
        assert r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert forwarded(mock) == []
