"""Upstream faults through a real sidecar: a connection reset mid-stream, a stream that goes
silent, and many clients leaving mid-stream. The client always learns the stream broke (its SDK
raises), nothing guardgate holds leaks, and the sidecar keeps serving."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from tests.faults.sidecars import ObservedSidecar, observed_sidecar
from tests.gateway import running_mock

from guardgate.testing import ServerThread

CHAT = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": "Count."}]}
FIRST_EVENT = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    b'[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'
)
ANTHROPIC_FIRST = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":'
    b'"message","role":"assistant","model":"m","content":[],"stop_reason":null,'
    b'"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
)


class ResettingUpstream:
    """A raw TCP upstream that sends a status line and one SSE event, then resets the
    connection (RST, as a crashed or killed upstream does)."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            first = ANTHROPIC_FIRST if b"/v1/messages" in request else FIRST_EVENT
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
                + f"{len(first):x}\r\n".encode()
                + first
                + b"\r\n"
            )
            time.sleep(0.05)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self._sock.close()


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


@pytest.fixture()
def resetting() -> Iterator[ResettingUpstream]:
    upstream = ResettingUpstream()
    yield upstream
    upstream.close()


@pytest.mark.parametrize("policy", ["pass", "strip", "summarise"])
def test_upstream_reset_mid_stream_reaches_the_sdk_as_an_error(
    resetting: ResettingUpstream, policy: str
) -> None:
    with observed_sidecar(resetting.url, reasoning_policy_normal=policy) as gate:
        # Raw bytes: the event sent before the reset arrives, then the provider's error event.
        with httpx.stream(
            "POST", gate.url + "/v1/chat/completions", json={**CHAT, "stream": True}
        ) as r:
            assert r.status_code == 200
            body = r.read()
        if policy == "pass":
            assert body.startswith(FIRST_EVENT)
        else:
            # Under strip and summarise answer text waits until no think span can follow (fail
            # closed); the stream broke first, so the held text counts as reasoning.
            assert b'"content":"Hel"' not in body
        assert b'data: {"error":' in body

        chat = openai.OpenAI(base_url=gate.url + "/v1", api_key="sk-reset", max_retries=0)
        received: list[str] = []
        with pytest.raises(openai.APIError):
            for chunk in chat.chat.completions.create(**CHAT, stream=True):  # type: ignore[call-overload]
                received.append(chunk.choices[0].delta.content or "")
        if policy == "pass":
            assert received == ["Hel"]  # nothing lost before the reset, nothing invented after
        else:
            assert "Hel" not in "".join(received)

        messages = anthropic.Anthropic(base_url=gate.url, api_key="sk-reset", max_retries=0)
        with (
            pytest.raises(anthropic.APIError),
            messages.messages.stream(
                model="m", max_tokens=64, messages=[{"role": "user", "content": "Count."}]
            ) as stream,
        ):
            for _ in stream:
                pass
        assert httpx.get(gate.url + "/_guardgate/health").json() == {"status": "ok"}


def test_upstream_going_silent_mid_stream_times_out_into_an_error_event(
    mock: ServerThread,
) -> None:
    with observed_sidecar(mock.url, upstream_read_timeout=0.4) as gate:
        chat = openai.OpenAI(
            base_url=gate.url + "/v1",
            api_key="sk-slow",
            max_retries=0,
            default_headers={"x-mock-chunk-delay": "3"},
        )
        started = time.monotonic()
        with pytest.raises(openai.APIError):
            for _ in chat.chat.completions.create(**CHAT, stream=True):  # type: ignore[call-overload]
                pass
        assert time.monotonic() - started < 2.5
        # A slow but live upstream (gaps under the timeout) is not cut.
        lively = httpx.post(
            gate.url + "/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers={"x-mock-chunk-delay": "0.05"},
            timeout=30,
        )
        assert lively.status_code == 200
        assert lively.text.rstrip().endswith("data: [DONE]")
        assert b'"error"' not in lively.content


def _fd_count() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/fd"))


async def _leave_mid_stream(url: str, n: int) -> int:
    """Open `n` slow streams at once, read the first bytes of each, then drop every connection."""
    body = json.dumps({**CHAT, "stream": True}).encode()
    host, port = url.removeprefix("http://").split(":")
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer sk-leaver\r\nx-mock-chunk-delay: 0.2\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    async def one() -> bool:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        first = await asyncio.wait_for(reader.read(4096), 10)
        writer.transport.abort()  # an abrupt close, as a killed client
        return first.startswith(b"HTTP/1.1 200")

    return sum(await asyncio.gather(*(one() for _ in range(n))))


@pytest.mark.parametrize("policy", ["pass", "strip"])
async def test_many_clients_leaving_mid_stream_leak_nothing(
    mock: ServerThread, policy: str
) -> None:
    # A concurrency quota of exactly the number of leavers: a leaked lease would show as a 429.
    settings = {"reasoning_policy_normal": policy, "account_concurrency": 150}
    with observed_sidecar(mock.url, **settings) as gate:
        await asyncio.to_thread(httpx.post, gate.url + "/v1/chat/completions", json=CHAT)
        fds_before = _fd_count()
        started = await _leave_mid_stream(gate.url, 150)
        assert started == 150
        await _settled(gate, mock)
        # Every upstream request was cancelled (none still streams into the void) ...
        assert not mock.server.server_state.tasks
        # ... every request task of the sidecar ended, and no socket was left open.
        assert not gate.server.server.server_state.tasks
        assert _fd_count() <= fds_before + 5
        # ... and each stream lease was given back: the account can open new streams.
        r = await asyncio.to_thread(
            httpx.post,
            gate.url + "/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers={"authorization": "Bearer sk-leaver"},
        )
        assert r.status_code == 200


async def _settled(gate: ObservedSidecar, mock: ServerThread) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not mock.server.server_state.tasks and not gate.server.server.server_state.tasks:
            return
        await asyncio.sleep(0.05)
