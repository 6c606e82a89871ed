"""Issue 18, finding 9: a hostile trace costs bounded memory. A `guardgate serve` process (its
peak RSS read from /proc) in front of an upstream that streams 24 MB of `reasoning_content`,
generated lazily; under strip nothing of the trace is kept, under summarise at most
GUARDGATE_REASONING_BUFFER_CHARS of it, and another client's request is answered meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tests.gateway import wait_healthy

from guardgate.testing import ServerThread, free_port

PIECE = "Consider the carry in the tens column, then check it once more. " * 128  # 8 KB
PIECES = 3072  # 24 MB of reasoning in one answer
BASE = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _event(delta: dict[str, str], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + json.dumps({**BASE, "choices": [choice]}).encode() + b"\n\n"


async def _huge() -> AsyncIterator[bytes]:
    for _ in range(PIECES):
        yield _event({"reasoning_content": PIECE})
    yield _event({"content": "The answer: 42."})
    yield _event({}, "stop")
    yield b"data: [DONE]\n\n"


async def chat(request: Request) -> Response:
    body = await request.json()
    if body.get("stream"):
        return StreamingResponse(_huge(), media_type="text/event-stream")
    return JSONResponse(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@contextmanager
def _served(upstream: str, policy: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    env.update(
        GUARDGATE_SECRET="hostile-trace-secret",
        GUARDGATE_UPSTREAM_URL=upstream,
        GUARDGATE_REASONING_POLICY_NORMAL=policy,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardgate.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url + "/_guardgate/health", proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with ServerThread(app) as server:
        yield server


@pytest.mark.parametrize("policy", ["strip", "summarise"])
def test_a_huge_reasoning_stream_costs_bounded_memory(upstream: ServerThread, policy: str) -> None:
    # Before: the whole trace was kept (and joined) per stream: this 24 MB one raised the
    # sidecar's peak RSS by more than its size, and a 200 MB one took 741 MB (strip) and
    # 2.7 GB (summarise) while other clients waited.
    with _served(upstream.url, policy) as (url, pid), httpx.Client(timeout=120) as http:
        ask = {"model": "m", "messages": [{"role": "user", "content": "Add 17 and 25."}]}
        assert http.post(url + "/v1/chat/completions", json=ask).status_code == 200
        baseline = _status_kb(pid, "VmRSS")
        slowest = 0.0
        done = threading.Event()

        def other_client() -> None:
            nonlocal slowest
            with httpx.Client(timeout=60) as other:
                while not done.is_set():
                    started = time.monotonic()
                    assert other.post(url + "/v1/chat/completions", json=ask).status_code == 200
                    slowest = max(slowest, time.monotonic() - started)
                    time.sleep(0.05)

        watcher = threading.Thread(target=other_client)
        watcher.start()
        try:
            text: list[str] = []
            received = 0
            streamed = {**ask, "stream": True}
            with http.stream("POST", url + "/v1/chat/completions", json=streamed) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    received += len(line)
                    if line.startswith("data: {"):
                        delta = json.loads(line[6:])["choices"][0]["delta"]
                        text.append(delta.get("content") or "")
        finally:
            done.set()
            watcher.join()
        grew_mb = (_status_kb(pid, "VmHWM") - baseline) / 1024
        assert "".join(text) == "The answer: 42."
        assert PIECE[:40] not in "".join(text)
        assert received < 64 * 1024  # the trace never reached the client
        assert grew_mb < 16, f"peak RSS grew {grew_mb:.0f} MB for a 24 MB trace"
        assert slowest < 5.0, f"another client waited {slowest:.1f} s"
