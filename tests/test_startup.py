"""Start-up as an operator sees it: a busy port or an unreachable Redis is one line, status 2."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from guardgate.startup import ping_redis, redacted_url
from guardgate.testing import free_port
from guardgate.testing.redis_server import RedisServer, running_redis


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _guardgate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    clean["GUARDGATE_SECRET"] = "startup-test-secret"
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "guardgate.cli", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["mock-upstream"],
        ["serve"],
        ["serve", "--mock-upstream", "--port", "{free}", "--mock-port"],
    ],
)
def test_a_busy_port_is_one_line_and_status_2(busy_port: int, command: list[str]) -> None:
    args = [a.replace("{free}", str(free_port())) for a in command]
    if "--mock-port" not in args:
        args += ["--port"]
    done = _guardgate(*args, str(busy_port))
    assert done.returncode == 2
    assert done.stderr.strip() == f"guardgate: port {busy_port} is in use"
    assert "Traceback" not in done.stdout


def test_unreachable_redis_stops_serve_when_fail_mode_is_closed() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    done = _guardgate(
        "serve", "--port", str(free_port()), GUARDGATE_REDIS_URL=url, GUARDGATE_FAIL_MODE="closed"
    )
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "GUARDGATE_REDIS_URL" in line and "connection refused" in line
    assert "hunter2" not in line


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


def test_ping_says_what_fails(redis_server: RedisServer) -> None:
    assert asyncio.run(ping_redis(redis_server.url, 2.0)) is None
    assert asyncio.run(ping_redis(f"redis://127.0.0.1:{free_port()}/0", 2.0)) == (
        "connection refused"
    )
    redis_server.command(b"CONFIG", b"SET", b"requirepass", b"s3cret")
    try:
        assert asyncio.run(ping_redis(redis_server.url, 2.0)) == "authentication failed"
        wrong = redis_server.url.replace("redis://", "redis://:wrong@")
        assert asyncio.run(ping_redis(wrong, 2.0)) == "authentication failed"
    finally:
        with socket.create_connection(("127.0.0.1", redis_server.port)) as sock:
            sock.sendall(b'AUTH s3cret\r\nCONFIG SET requirepass ""\r\n')
            sock.recv(100)


def test_ping_times_out_on_a_silent_server() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        assert asyncio.run(ping_redis(url, 0.3)) == "timed out"


def test_passwords_are_redacted() -> None:
    assert redacted_url("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redacted_url("redis://host:6379/0") == "redis://host:6379/0"


def test_unreachable_redis_with_fail_open_serves_and_is_not_ready() -> None:
    import time

    import httpx

    port, mock_port = free_port(), free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    clean.update(
        GUARDGATE_SECRET="startup-test-secret",
        GUARDGATE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    command = [sys.executable, "-m", "guardgate.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--mock-upstream", "--mock-port", str(mock_port)],
        env=clean,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "guardgate serve exited"
            try:
                if httpx.get(url + "/_guardgate/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        ready = httpx.get(url + "/_guardgate/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"redis": "connection refused", "upstream": "ok"}
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=15)
    assert "GUARDGATE_REDIS_URL" in err and "connection refused" in err
    assert "serving anyway as GUARDGATE_FAIL_MODE=open" in err
