"""Load and soak on loopback: a real `guardgate serve` process in front of the mock upstream (its
own process), driven by an asyncio/aiohttp load generator with hundreds of concurrent clients.

Half the requests stream; the mix covers Chat (reasoning_content), Anthropic Messages and
Responses, under a strip policy for every tier (so every answer is transformed), with many API
keys and quotas on. Every answer is checked: status, a complete stream (its terminal event last,
events in order), no reasoning text. It reports the sidecar's RSS and open file descriptors at the
start, after warm-up and at the end, and the errors seen.

    python benchmarks/soak.py                      # 200,000 requests, 200 concurrent clients
    python benchmarks/soak.py --requests 5000      # a quick run
    GUARDGATE_SOAK=1 python -m pytest tests/load   # the long soak as a test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

TRACE_MARK = "First, I restate the problem"
"""A phrase every mock reasoning trace contains: it must never reach a client under strip."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    """Open file descriptors of `pid`."""
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class SoakResult:
    """What one run saw."""

    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    broken_streams: int = 0
    leaked_reasoning: int = 0
    client_errors: Counter[str] = field(default_factory=Counter)
    rss_start: int = 0
    rss_warm: int = 0
    rss_end: int = 0
    fds_start: int = 0
    fds_warm: int = 0
    fds_end: int = 0
    upstream_fds_end: int = 0

    def report(self) -> str:
        """A few lines an operator reads."""
        five = sum(n for s, n in self.statuses.items() if s >= 500)
        return "\n".join(
            [
                f"requests {self.requests} in {self.seconds:.1f} s "
                f"({self.requests / max(self.seconds, 1e-9):.0f}/s); "
                f"statuses {dict(self.statuses)}",
                f"5xx {five}; broken or reordered streams {self.broken_streams}; "
                f"reasoning leaked {self.leaked_reasoning}; client errors "
                f"{dict(self.client_errors)}",
                f"sidecar RSS KiB start {self.rss_start}, after warm-up {self.rss_warm}, "
                f"end {self.rss_end}; fds start {self.fds_start}, after warm-up {self.fds_warm} "
                f"(the upstream keep-alive pool), end {self.fds_end}",
            ]
        )


_CHAT = {
    "model": "mock-reasoning-content",
    "messages": [{"role": "user", "content": "Explain step by step: 17 times 23."}],
}
_MESSAGES = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "messages": [{"role": "user", "content": "Explain step by step: 17 times 23."}],
}
_RESPONSES = {"model": "o4-mini", "input": "Explain step by step: 17 times 23."}
_CASES = [
    ("/v1/chat/completions", _CHAT, b"data: [DONE]"),
    ("/v1/messages", _MESSAGES, b"event: message_stop"),
    ("/v1/responses", _RESPONSES, b"event: response.completed"),
]


def _stream_ok(body: bytes, terminal: bytes) -> bool:
    """A complete, ordered stream: its terminal event is the last one and nothing follows it;
    Responses' sequence numbers strictly increase."""
    text = body.rstrip()
    last = text.rsplit(b"\n\n", 1)[-1]
    if not last.startswith(terminal) and terminal not in last:
        return False
    if b"sequence_number" in body:
        numbers = [
            json.loads(line[6:])["sequence_number"]
            for line in body.split(b"\n")
            if line.startswith(b"data: {")
        ]
        return numbers == list(range(len(numbers)))
    return b'"error"' not in body


async def _drive(url: str, total: int, concurrency: int, keys: int, result: SoakResult) -> None:
    counter = iter(range(total))
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(worker: int) -> None:
            for n in counter:
                path, body, terminal = _CASES[n % len(_CASES)]
                stream = (n // len(_CASES)) % 2 == 0
                headers = {"authorization": f"Bearer sk-soak-{(n * 7919 + worker) % keys:05d}"}
                try:
                    async with session.post(
                        url + path, json={**body, "stream": stream}, headers=headers
                    ) as r:
                        raw = await r.read()
                        result.statuses[r.status] += 1
                        if r.status == 200:
                            if stream and not _stream_ok(raw, terminal):
                                result.broken_streams += 1
                            if TRACE_MARK.encode() in raw:
                                result.leaked_reasoning += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.client_errors[type(exc).__name__] += 1
                result.requests += 1

        await asyncio.gather(*(client(i) for i in range(concurrency)))


def run_soak(
    requests: int, concurrency: int = 200, keys: int = 2000, warmup: int = 2000
) -> SoakResult:
    """Start the mock and a sidecar as processes, drive `requests` through, stop them."""
    mock_port, gate_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    env.update(
        GUARDGATE_UPSTREAM_URL=f"http://127.0.0.1:{mock_port}",
        GUARDGATE_SECRET="soak-secret-0123456789",
        GUARDGATE_REASONING_POLICY_NORMAL="strip",
        GUARDGATE_ACCOUNT_RPM="1000000",
        GUARDGATE_ACCOUNT_CONCURRENCY="1000",
    )
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    cli = [sys.executable, "-m", "guardgate.cli"]
    mock = subprocess.Popen([*cli, "mock-upstream", "--port", str(mock_port)], env=env, **quiet)  # type: ignore[call-overload]
    gate = subprocess.Popen([*cli, "serve", "--port", str(gate_port)], env=env, **quiet)  # type: ignore[call-overload]
    result = SoakResult()
    try:
        _wait_port(mock_port)
        _wait_port(gate_port)
        url = f"http://127.0.0.1:{gate_port}"
        result.rss_start, result.fds_start = rss_kib(gate.pid), fd_count(gate.pid)
        started = time.monotonic()
        warm = SoakResult()
        asyncio.run(_drive(url, min(warmup, requests), concurrency, keys, warm))
        result.rss_warm, result.fds_warm = rss_kib(gate.pid), fd_count(gate.pid)
        asyncio.run(_drive(url, max(0, requests - warmup), concurrency, keys, result))
        result.seconds = time.monotonic() - started
        for name in ("statuses", "client_errors"):
            getattr(result, name).update(getattr(warm, name))
        result.requests += warm.requests
        result.broken_streams += warm.broken_streams
        result.leaked_reasoning += warm.leaked_reasoning
        time.sleep(1.0)  # let closed connections be reaped
        result.rss_end, result.fds_end = rss_kib(gate.pid), fd_count(gate.pid)
        result.upstream_fds_end = fd_count(mock.pid)
    finally:
        for process in (gate, mock):
            process.send_signal(signal.SIGINT)
        for process in (gate, mock):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--keys", type=int, default=2000)
    args = parser.parse_args()
    print(run_soak(args.requests, args.concurrency, args.keys).report())


if __name__ == "__main__":
    main()
