"""Fault-test support: a real sidecar whose observations are recorded, and raw HTTP helpers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.gateway import settings_for

from guardgate.model import Observation
from guardgate.sidecar import Sidecar, create_app
from guardgate.testing import ServerThread


class ObservedSidecar:
    """A sidecar under uvicorn whose every `Observation` is kept, as the engine saw it."""

    def __init__(self, server: ServerThread, app: Sidecar) -> None:
        self.server = server
        self.app = app
        self.url = server.url
        self.port = server.port
        self.observations: list[Observation] = []
        self._lock = threading.Lock()
        observer = app.deployment.observer
        original = observer.observe

        def observe(*args: Any, **kwargs: Any) -> Observation:
            obs = original(*args, **kwargs)
            with self._lock:
                self.observations.append(obs)
            return obs

        observer.observe = observe  # type: ignore[method-assign]

    def last(self) -> Observation:
        """The observation of the latest request that reached the engine."""
        with self._lock:
            return self.observations[-1]


@contextmanager
def observed_sidecar(upstream: str, **overrides: Any) -> Iterator[ObservedSidecar]:
    """A sidecar in front of `upstream` that records its observations."""
    app = create_app(settings_for(upstream, **overrides))
    # As `guardgate serve` runs it: uvicorn's own proxy-headers rewrite (which believes
    # X-Forwarded-For from 127.0.0.1) off, so that only GUARDGATE_TRUSTED_PROXIES decides.
    server = ServerThread(app, proxy_headers=False)
    with server:
        yield ObservedSidecar(server, app)


def raw_exchange(port: int, request: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes to 127.0.0.1:`port` and read until the server closes or `timeout`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
                if _complete(received):
                    break
        except TimeoutError:
            pass
        return received


def _complete(reply: bytes) -> bool:
    head, sep, body = reply.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return body.endswith(b"0\r\n\r\n")


def status_of(reply: bytes) -> int:
    """The status code of a raw HTTP/1.1 reply (0 when there was none)."""
    if not reply.startswith(b"HTTP/1.1 "):
        return 0
    return int(reply[9:12])
