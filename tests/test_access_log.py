"""The sidecar's access log (`GUARDGATE_ACCESS_LOG`) and the URLs guardgate logs: one line per
request with the query redacted, never a key; one WARNING when the upstream cannot be reached.
Real sidecars under uvicorn, the mock upstream."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.gateway import running_mock, running_sidecar

from guardgate.testing import ServerThread, free_port

KEY = "sk-query-secret-123"
CHAT: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Count to three."}],
    "stream": True,
}


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


def _logged(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


def _guardgate_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything guardgate logged (the test's own HTTP client logs its URLs itself)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("guardgate"))


def test_access_log_line_per_request_without_query_or_key(
    mock: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="guardgate.access")
    with running_sidecar(mock.url, access_log=True) as gate, httpx.Client(timeout=10) as http:
        ok = http.post(gate.url + f"/v1/chat/completions?api_key={KEY}", json=CHAT)
        missing = http.get(gate.url + "/v1/batches")
    assert ok.status_code == 200 and missing.status_code == 404
    lines = [r.getMessage() for r in _logged(caplog, "guardgate.access")]
    assert len(lines) == 2
    assert re.fullmatch(r"POST /v1/chat/completions\?\[redacted\] 200 [\d.]+ms (\d+)B", lines[0])
    assert int(lines[0].rsplit(" ", 1)[1][:-1]) == len(ok.content)
    assert re.fullmatch(r"GET /v1/batches 404 [\d.]+ms \d+B", lines[1])
    assert KEY not in _guardgate_text(caplog)


def test_access_log_is_off_by_default(mock: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="guardgate.access")
    with running_sidecar(mock.url) as gate:
        httpx.post(gate.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert _logged(caplog, "guardgate.access") == []


def test_unreachable_upstream_is_one_warning_with_the_url_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    dead = f"http://127.0.0.1:{free_port()}"
    with running_sidecar(dead) as gate:
        reply = httpx.post(gate.url + f"/v1/chat/completions?key={KEY}", json=CHAT, timeout=10)
    assert reply.status_code == 502
    warnings = [r for r in _logged(caplog, "guardgate.proxy") if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "could not be reached" in text and "/v1/chat/completions?[redacted]" in text
    assert KEY not in _guardgate_text(caplog)


def test_a_broken_stream_is_logged_without_the_query(
    mock: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: "upstream stream broke off: POST http://.../v1/chat/completions?api_key=sk-..."
    caplog.set_level(logging.WARNING)
    with running_sidecar(mock.url) as gate:
        reply = httpx.post(
            gate.url + f"/v1/chat/completions?api_key={KEY}",
            json=CHAT,
            headers={"x-mock-fail": "close-early"},
            timeout=10,
        )
    assert reply.status_code == 200
    broke = [r.getMessage() for r in _logged(caplog, "guardgate.proxy")]
    assert any("broke off" in line and "?[redacted]" in line for line in broke)
    assert KEY not in _guardgate_text(caplog)
