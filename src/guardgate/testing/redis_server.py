"""A real `redis-server` on a free port, started and stopped by tests and benchmarks (no
persistence), so that nothing depends on a Redis the machine happens to run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from guardgate.testing.server import free_port


class RedisServer:
    """One redis-server process; `stop()` and `start()` again keep the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The `redis://` URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.command(b"PING") == b"+PONG":
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill the server (as an outage would) and wait for it to exit."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            self._process = None

    def command(self, *parts: bytes) -> bytes | None:
        """Send one inline command; the first reply line, or None when Redis is unreachable."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b" ".join(parts) + b"\r\n")
                return sock.recv(65536).split(b"\r\n", 1)[0]
        except OSError:
            return None

    def commands_processed(self) -> int:
        """Redis's `total_commands_processed` (each counts one command it received)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"INFO stats\r\n")
            data = b""
            while b"total_commands_processed" not in data or not data.endswith(b"\r\n"):
                data += sock.recv(65536)
        for line in data.split(b"\r\n"):
            if line.startswith(b"total_commands_processed:"):
                return int(line.split(b":")[1])
        raise RuntimeError("no total_commands_processed in INFO")


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A fresh redis-server for the duration of the block."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
