"""The sidecar's answers when the upstream, the client or the request misbehave."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from tests.gateway import running_mock, running_sidecar

from guardgate.testing import ServerThread, free_port

CHAT = {"model": "mock-think", "messages": [{"role": "user", "content": "Count to ten."}]}
MESSAGES = {
    "model": "claude-mock-1",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Count to ten."}],
}


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


def test_unreachable_upstream_is_502_in_provider_format() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with running_sidecar(dead) as sidecar:
        r = httpx.post(sidecar.url + "/v1/chat/completions", json=CHAT)
        assert r.status_code == 502
        assert r.json()["error"]["type"] == "server_error"
        r = httpx.post(sidecar.url + "/v1/messages", json=MESSAGES)
        assert r.status_code == 502
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "api_error"


def test_upstream_timeout_is_504(mock: ServerThread) -> None:
    with running_sidecar(mock.url, upstream_read_timeout=0.3) as sidecar:
        started = time.monotonic()
        r = httpx.post(
            sidecar.url + "/v1/chat/completions",
            json=CHAT,
            headers={"x-mock-delay": "3"},
            timeout=10,
        )
        assert r.status_code == 504
        assert r.json()["error"]["code"] == "gateway_timeout"
        assert time.monotonic() - started < 2.5


def test_upstream_closing_stream_early_raises_in_the_sdk(mock: ServerThread) -> None:
    with running_sidecar(mock.url) as sidecar:
        client = openai.OpenAI(
            base_url=sidecar.url + "/v1",
            api_key="sk-x",
            max_retries=0,
            default_headers={"x-mock-fail": "close-early"},
        )
        with pytest.raises(openai.APIError):
            stream = client.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
            for _ in stream:
                pass


def test_client_disconnect_closes_upstream_request(mock: ServerThread) -> None:
    with running_sidecar(mock.url) as sidecar:
        body = b'{"model":"mock-think","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"x-mock-chunk-delay: 0.2\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
        ) + body
        with socket.create_connection(("127.0.0.1", sidecar.port)) as sock:
            sock.sendall(request)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        # the upstream stream would run for seconds; it must be dropped at once instead
        deadline = time.monotonic() + 2.0
        while mock.server.server_state.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not mock.server.server_state.connections
        # and the sidecar keeps serving
        assert httpx.post(sidecar.url + "/v1/chat/completions", json=CHAT).status_code == 200


def test_body_over_limit_is_413_and_not_forwarded(mock: ServerThread) -> None:
    with running_sidecar(mock.url, max_body_bytes=4096) as sidecar:
        httpx.post(mock.url + "/mock/reset")
        big = {**MESSAGES, "messages": [{"role": "user", "content": "x" * 10_000}]}
        r = httpx.post(sidecar.url + "/v1/messages", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "request_too_large"

        def chunks() -> Iterator[bytes]:  # no content-length: the limit holds while streaming
            yield b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}]}'

        r = httpx.post(sidecar.url + "/v1/chat/completions", content=chunks())
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"
        assert httpx.get(mock.url + "/mock/requests").json() == []


@pytest.mark.parametrize(
    "raw", [b"{not json", b"\xff\xfe\x00", b"[1, 2, 3]", b'"just a string"', b""]
)
def test_malformed_json_is_400_and_not_forwarded(mock: ServerThread, raw: bytes) -> None:
    with running_sidecar(mock.url) as sidecar:
        httpx.post(mock.url + "/mock/reset")
        r = httpx.post(
            sidecar.url + "/v1/chat/completions",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400
        assert r.json()["error"]["type"] == "invalid_request_error"
        r = httpx.post(sidecar.url + "/v1/messages", content=raw)
        assert r.status_code == 400
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert httpx.get(mock.url + "/mock/requests").json() == []


def test_slow_request_body_times_out_with_408(mock: ServerThread) -> None:
    with running_sidecar(mock.url, body_read_timeout=0.3) as sidecar:
        with socket.create_connection(("127.0.0.1", sidecar.port)) as sock:
            sock.sendall(
                b'POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"mo'
            )
            sock.settimeout(3)
            reply = b""
            while b"invalid_request_error" not in reply:  # headers and body may come apart
                piece = sock.recv(4096)
                if not piece:
                    break
                reply += piece
        assert reply.startswith(b"HTTP/1.1 408")
        assert b"invalid_request_error" in reply
