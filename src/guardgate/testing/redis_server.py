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
        self._chosen = port is None
        """Whether the port was picked here: another may take it between the pick and the bind
        (tests run in parallel workers), and then a new one is picked."""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The `redis://` URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING; when the port this object picked was
        taken meanwhile, pick another (a few times)."""
        for _ in range(5):
            if self._start_once():
                self._chosen = False  # a restart (after an outage) keeps the port
                return
            if not self._chosen:
                break
            self.port = free_port()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _start_once(self) -> bool:
        """One start on `self.port`: True once this process (not another one holding the port)
        answers."""
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        process = self._process = subprocess.Popen(
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
            if process.poll() is not None:  # it exited: the port is someone else's
                self._process = None
                return False
            if self.command(b"PING") == b"+PONG" and self._pid() == process.pid:
                return True
            time.sleep(0.02)
        process.kill()
        process.wait(5)
        self._process = None
        return False

    def _pid(self) -> int | None:
        """The process id of the redis-server answering on the port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"INFO server\r\n")
                data = b""
                while b"process_id:" not in data or not data.endswith(b"\r\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        for line in data.split(b"\r\n"):
            if line.startswith(b"process_id:"):
                return int(line.split(b":", 1)[1])
        return None

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
