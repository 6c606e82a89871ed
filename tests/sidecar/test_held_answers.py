"""Issue 18, findings 6 and 9: what a strip or summarise transform holds is bounded. A whole JSON
answer, or one SSE event (a Responses `reasoning_text.done` or `output_item.done` carries the
whole trace), larger than 8 x GUARDGATE_REASONING_BUFFER_CHARS bytes is refused in the provider's
format, never passed raw. A real sidecar in front of the mock upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from tests.gateway import running_mock, running_sidecar

from guardgate.testing import ServerThread

AUTH = {"authorization": "Bearer sk-held-answers"}
BODY = {"model": "o-mock", "input": "Add 17 and 25, showing your work."}
TRACE = "Step 3: I work through the case carefully"
HUGE = {"x-mock-reasoning-repeat": "40"}  # some 28 KB of trace, past 8 x 1,024 bytes


@pytest.fixture(scope="module", params=["strip", "summarise"])
def gate(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    with (
        running_mock() as upstream,
        running_sidecar(
            upstream.url, reasoning_policy_normal=request.param, reasoning_buffer_chars=1024
        ) as server,
    ):
        yield server


def _post(gate: ServerThread, stream: bool, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        gate.url + "/v1/responses",
        json={**BODY, "stream": stream},
        headers={**AUTH, **headers},
        timeout=10,
    )


def _events(reply: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in reply.text.splitlines() if line.startswith("data: ")]


def test_an_answer_under_the_bound_is_transformed_and_served(gate: ServerThread) -> None:
    whole = _post(gate, False, {})
    assert whole.status_code == 200 and TRACE not in whole.text
    assert whole.json()["output"][-1]["type"] == "message"
    stream = _post(gate, True, {})
    assert stream.status_code == 200 and TRACE not in stream.text
    assert _events(stream)[-1]["type"] == "response.completed"


def test_a_whole_answer_past_the_bound_is_a_502_in_the_providers_format(
    gate: ServerThread,
) -> None:
    reply = _post(gate, False, HUGE)
    assert reply.status_code == 502
    assert TRACE not in reply.text
    error = reply.json()["error"]
    assert error["type"] and error["message"]


def test_one_event_past_the_bound_ends_the_stream_with_an_error_event(gate: ServerThread) -> None:
    reply = _post(gate, True, HUGE)
    assert reply.status_code == 200  # the stream had started
    assert TRACE not in reply.text
    events = _events(reply)
    assert "error" in events[-1]  # the SDKs raise on it
    assert all(e.get("type") != "response.completed" for e in events)
