"""Run an ASGI app under a real uvicorn server on a free loopback port, for tests and demos.

httpx's ASGITransport buffers whole bodies, so it cannot prove streaming; a real server can.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """A uvicorn server in a background thread; use as a context manager.

    `url` is `http://127.0.0.1:<port>` once entered. Stopping waits for the server to close
    its connections (bounded by `shutdown_timeout`).
    """

    def __init__(
        self,
        app: ASGIApp,
        port: int | None = None,
        *,
        lifespan: str = "auto",
        shutdown_timeout: float = 5.0,
        proxy_headers: bool = True,
    ) -> None:
        self._app = app
        self._options = {
            "lifespan": lifespan,
            "timeout_graceful_shutdown": int(shutdown_timeout),
            # False as `guardgate serve` runs it: guardgate alone decides which forwarding
            # header it believes, uvicorn does not rewrite the client address first.
            "proxy_headers": proxy_headers,
        }
        self._chosen = not port
        """Whether the port was picked here: another worker may bind it between the pick and
        uvicorn's bind, and then `start` picks another."""
        self._prepare(port or free_port())

    def _prepare(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            loop="asyncio",
            **self._options,  # type: ignore[arg-type]
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"uvicorn-{port}")
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start serving and wait until the port accepts connections (on another free port
        when the one picked here was taken meanwhile)."""
        for _ in range(4):
            try:
                return self._start_once(timeout)
            except RuntimeError:
                if not self._chosen:
                    raise
                self._prepare(free_port())
        return self._start_once(timeout)

    def _start_once(self, timeout: float) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"server on port {self.port} failed to start") from self._error
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {self.port} did not start in {timeout}s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
