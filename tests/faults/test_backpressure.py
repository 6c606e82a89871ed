"""A client that reads slowly: the sidecar must not buffer what the client has not taken. The
upstream can produce 512 MiB; while the client reads nothing, only socket buffers' worth may
leave it, and the sidecar's memory stays put."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator

import pytest
from benchmarks.soak import rss_kib
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from tests.faults.sidecars import observed_sidecar

from guardgate.testing import ServerThread

EVENT_BYTES = 64 * 1024
EVENTS = 8192  # 512 MiB in all


class FloodingUpstream:
    """An upstream that streams as fast as it is allowed to, counting what it got out."""

    def __init__(self) -> None:
        self.produced = 0
        piece = {"index": 0, "delta": {"content": "x" * EVENT_BYTES}, "finish_reason": None}
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        self.event = b"data: " + json.dumps({**chunk, "choices": [piece]}).encode() + b"\n\n"
        # Reasoning in a field of its own first: the content is then known to be answer, so
        # under strip it streams (fail closed, content without that would wait for a tag).
        thought = {"index": 0, "delta": {"reasoning_content": "Go."}, "finish_reason": None}
        self.first = b"data: " + json.dumps({**chunk, "choices": [thought]}).encode() + b"\n\n"
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    async def _chat(self, request: Request) -> StreamingResponse:
        await request.body()

        async def flood() -> AsyncIterator[bytes]:
            yield self.first
            for _ in range(EVENTS):
                self.produced += len(self.event)
                yield self.event

        return StreamingResponse(flood(), media_type="text/event-stream")


@pytest.mark.parametrize("policy", ["pass", "strip"])
def test_a_stalled_client_holds_the_upstream_back(policy: str) -> None:
    upstream = FloodingUpstream()
    with (
        ServerThread(upstream.app) as server,
        observed_sidecar(server.url, reasoning_policy_normal=policy) as gate,
    ):
        body = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"go"}]}'
        rss_before = rss_kib(os.getpid())
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.connect(("127.0.0.1", gate.port))
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                b"content-type: application/json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            assert sock.recv(16).startswith(b"HTTP/1.1 200")
            time.sleep(2.0)  # the client takes nothing for two seconds
            stalled = upstream.produced
            rss_stalled = rss_kib(os.getpid())
            # Now it reads 8 MiB: the stream resumes, so it was held back, not broken.
            got = 0
            while got < 8 << 20:
                data = sock.recv(1 << 20)
                assert data
                got += len(data)
        print(f"stalled: {stalled >> 10} KiB out, RSS +{rss_stalled - rss_before} KiB")
        assert stalled < 32 << 20, f"{stalled >> 20} MiB left the upstream for a stalled client"
        assert rss_stalled - rss_before < 64 * 1024
        assert upstream.produced > stalled
