"""Test support: a real mock upstream and a real sidecar, each under uvicorn on a free port."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from guardgate.settings import GuardgateSettings, load_settings
from guardgate.sidecar import create_app
from guardgate.testing import ServerThread
from guardgate.testing.mock_upstream import create_mock_upstream

MOCK_SECRET = b"mock-upstream-secret"
GG_SECRET = "gateway-test-secret-0123456789"


def settings_for(upstream: str, **overrides: Any) -> GuardgateSettings:
    """Settings for a sidecar in front of `upstream`, independent of the environment."""
    return load_settings(upstream_url=upstream, secret=GG_SECRET, **overrides)


@contextmanager
def running_mock() -> Iterator[ServerThread]:
    """The mock upstream, served for real."""
    with ServerThread(create_mock_upstream(MOCK_SECRET)) as server:
        yield server


@contextmanager
def running_sidecar(
    upstream: str, *, clock: Callable[[], float] | None = None, **overrides: Any
) -> Iterator[ServerThread]:
    """A guardgate sidecar in front of `upstream`, served for real (on `clock`'s time when
    given: the request time its decisions read)."""
    with ServerThread(create_app(settings_for(upstream, **overrides), clock)) as server:
        yield server


_VOLATILE = re.compile(
    rb'"(id|created|created_at|completed_at|item_id|call_id|system_fingerprint|request_id)":\s*("[^"]*"|\d+)'
)


def normalise(raw: bytes) -> bytes:
    """Raw body bytes with per-call ids and timestamps masked (the mock mints fresh ones)."""
    return _VOLATILE.sub(rb'"\1":"*"', raw)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until `url` answers 200, while the server process `proc` is still running."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "it exited"
        assert time.monotonic() < deadline, f"{url} did not become healthy"
        time.sleep(0.1)
