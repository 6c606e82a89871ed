"""The mock's test controls (`x-mock-*` headers), upstream headers, request log and command."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from guardgate.testing import ServerThread, create_mock_upstream, free_port

CHAT = {
    "model": "mock-reasoning-content",
    "messages": [{"role": "user", "content": "Count to three."}],
}
MESSAGES = {
    "model": "mock-claude",
    "max_tokens": 4096,
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "messages": [{"role": "user", "content": "Count to three."}],
}


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """A mock of its own, so that its request log holds only this test's requests."""
    with ServerThread(create_mock_upstream()) as server:
        yield server.url


def test_delay_before_first_byte(mock_url: str) -> None:
    started = time.monotonic()
    response = httpx.post(
        f"{mock_url}/v1/chat/completions", json=CHAT, headers={"x-mock-delay": "0.3"}
    )
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_chunk_delay_spreads_a_real_stream(mock_url: str) -> None:
    arrivals = []
    headers = {"x-mock-chunk-delay": "0.02"}
    with httpx.stream(
        "POST", f"{mock_url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=headers
    ) as response:
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic(), chunk))
    assert b"data: [DONE]" in arrivals[-1][1]
    assert len(arrivals) > 10
    assert arrivals[-1][0] - arrivals[0][0] >= 0.2  # the first event came well before the last


@pytest.mark.parametrize(
    ("path", "body", "end_marker"),
    [
        ("/v1/chat/completions", CHAT, b"[DONE]"),
        ("/v1/responses", {"model": "o4-mini", "input": "hi"}, b"response.completed"),
        ("/v1/messages", MESSAGES, b"message_stop"),
    ],
)
def test_close_early_drops_the_connection_mid_stream(
    mock_url: str, path: str, body: dict[str, object], end_marker: bytes
) -> None:
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST",
            f"{mock_url}{path}",
            json={**body, "stream": True},
            headers={"x-mock-fail": "close-early"},
        ) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
    assert received.count(b"data: ") > 3
    assert end_marker not in received


def test_fail_500_in_each_provider_format(mock_url: str) -> None:
    oai = openai.OpenAI(
        base_url=f"{mock_url}/v1",
        api_key="k",
        max_retries=0,
        default_headers={"x-mock-fail": "500"},
    )
    with oai, pytest.raises(openai.InternalServerError) as oai_error:
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert oai_error.value.status_code == 500
    assert oai_error.value.type == "server_error"
    ant = anthropic.Anthropic(
        base_url=mock_url, api_key="k", max_retries=0, default_headers={"x-mock-fail": "500"}
    )
    with ant, pytest.raises(anthropic.InternalServerError) as ant_error:
        ant.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    body: Any = ant_error.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error"


def test_status_429_with_rate_limit_headers(mock_url: str) -> None:
    openai_429 = httpx.post(
        f"{mock_url}/v1/chat/completions", json=CHAT, headers={"x-mock-status": "429"}
    )
    assert openai_429.status_code == 429
    assert openai_429.headers["retry-after"] == "1"
    assert openai_429.headers["x-ratelimit-remaining-requests"] == "0"
    assert openai_429.json()["error"]["type"] == "rate_limit_error"
    anthropic_429 = httpx.post(
        f"{mock_url}/v1/messages", json=MESSAGES, headers={"x-mock-status": "429"}
    )
    assert anthropic_429.status_code == 429
    assert anthropic_429.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert anthropic_429.json()["error"]["type"] == "rate_limit_error"


def test_upstream_headers_on_success(mock_url: str) -> None:
    openai_ok = httpx.post(f"{mock_url}/v1/chat/completions", json=CHAT)
    assert openai_ok.headers["x-request-id"].startswith("req_")
    assert openai_ok.headers["openai-processing-ms"].isdigit()
    assert openai_ok.headers["x-ratelimit-remaining-requests"]
    anthropic_ok = httpx.post(f"{mock_url}/v1/messages", json=MESSAGES)
    assert anthropic_ok.headers["request-id"].startswith("req_")
    assert anthropic_ok.headers["anthropic-ratelimit-tokens-remaining"]


def test_request_log_records_and_resets(fresh_url: str) -> None:
    httpx.post(f"{fresh_url}/v1/chat/completions", json=CHAT, headers={"x-trace": "one"})
    bad = httpx.post(
        f"{fresh_url}/v1/messages", content=b"not json", headers={"content-type": "text/plain"}
    )
    assert bad.status_code == 400
    assert bad.json()["type"] == "error"
    log = httpx.get(f"{fresh_url}/mock/requests").json()
    assert [entry["path"] for entry in log] == ["/v1/chat/completions", "/v1/messages"]
    assert log[0]["headers"]["x-trace"] == "one"
    assert log[0]["body"] == CHAT
    assert log[1]["body"] == "not json"
    assert httpx.post(f"{fresh_url}/mock/reset").status_code == 200
    assert httpx.get(f"{fresh_url}/mock/requests").json() == []


def test_request_log_keeps_the_last_thousand(fresh_url: str) -> None:
    with httpx.Client(base_url=fresh_url) as client:
        for i in range(1005):
            client.post("/v1/completions", json={"model": "m", "prompt": str(i)})
        log = client.get("/mock/requests").json()
    assert len(log) == 1000
    assert log[0]["body"]["prompt"] == "5" and log[-1]["body"]["prompt"] == "1004"


def test_mock_upstream_command_serves() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "guardgate.cli", "mock-upstream", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT)
                break
            except httpx.TransportError:
                assert process.poll() is None, "mock-upstream exited"
                assert time.monotonic() < deadline, "mock-upstream did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["reasoning_content"]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_close_early_cuts_a_non_stream_answer(mock_url: str, path: str) -> None:
    body = CHAT if "chat" in path else MESSAGES
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{mock_url}{path}", json=body, headers={"x-mock-fail": "close-early"})


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/chat/completions", {"model": "m"}, "Missing required parameter: 'messages'."),
        ("/v1/responses", {"input": "hi"}, "Missing required parameter: 'model'."),
        ("/v1/messages", {**MESSAGES, "max_tokens": None}, "max_tokens: Field required"),
    ],
)
def test_missing_required_field_is_a_provider_400(
    mock_url: str, path: str, body: dict[str, object], message: str
) -> None:
    response = httpx.post(f"{mock_url}{path}", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
