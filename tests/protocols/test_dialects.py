"""One dialect per API: every API has one, callers ask it instead of switching on the API, and
Chat and Completions hide inline think tags with one shared piece that behaves the same."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.protocols.transform_harness import events, run, sse

from guardgate.model import ApiKind, ReasoningPolicy
from guardgate.protocols.dialects import DIALECTS, dialect_for
from guardgate.protocols.endpoints import api_for_path
from guardgate.protocols.routes import RouteTable

SRC = Path(__file__).resolve().parents[2] / "src" / "guardgate"
STRIP = ReasoningPolicy.STRIP


def test_every_api_has_a_dialect_at_its_own_path() -> None:
    assert set(DIALECTS) == set(ApiKind)
    for api in ApiKind:
        dialect = dialect_for(api)
        assert dialect.api is api
        assert api_for_path(dialect.path) is api
        assert api_for_path(dialect.path + "/", "") is api
        readback = RouteTable().readback("GET", dialect.path + "/resp_1")
        assert readback is (api if dialect.stores_answers else None)


@pytest.mark.parametrize("api", list(ApiKind))
def test_errors_and_rate_limit_headers_follow_the_provider(api: ApiKind) -> None:
    dialect = dialect_for(api)
    body = json.loads(dialect.error_body(429, "Slow down."))
    event = dialect.error_event(502, "Broken.")
    headers = dict(dialect.rate_limit_headers("tokens", 1000, 0, 1.5, now=0.0))
    if api is ApiKind.ANTHROPIC_MESSAGES:
        assert body == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "Slow down."},
        }
        assert event.startswith(b"event: error\ndata: {") and event.endswith(b"\n\n")
        assert headers["anthropic-ratelimit-tokens-reset"] == "1970-01-01T00:00:02Z"
    else:
        assert body["error"]["type"] == "rate_limit_error"
        assert body["error"]["code"] == "rate_limit_exceeded"
        assert event.startswith(b"data: {") and event.endswith(b"\n\n")
        assert headers["x-ratelimit-reset-tokens"] == "2s"
    payload = json.loads(event.split(b"data: ", 1)[1])
    assert "Broken." in json.dumps(payload)


_SWITCH = re.compile(r"(?:is|==|!=) ApiKind\.|\.is_anthropic\b|\[ApiKind\.")
_ALLOWED = ("protocols/dialects/", "simulate/", "testing/")


def test_only_the_dialects_switch_on_the_api() -> None:
    """A provider's change touches its dialect: no other module branches on which API a
    request is written for (the simulators and mock servers, which play the clients and
    the providers, excepted)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(_ALLOWED) or rel == "model.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _SWITCH.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert found == []


def _chat(content: str | None, finish: str | None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}


def _completion(content: str | None, finish: str | None) -> dict[str, Any]:
    choice = {"text": content or "", "index": 0, "logprobs": None, "finish_reason": finish}
    return {"id": "c", "object": "text_completion", "model": "m", "choices": [choice]}


def _answer(api: ApiKind, out: bytes) -> str:
    field = "text" if api is ApiKind.OPENAI_COMPLETIONS else "content"
    text = []
    for _, data in events(out):
        if data == "[DONE]":
            continue
        for choice in data["choices"]:
            part = choice if field == "text" else choice["delta"]
            text.append(part.get(field) or "")
    return "".join(text)


@pytest.mark.parametrize("finish", ["stop", "length", "content_filter", None])
@pytest.mark.parametrize("think_open", [False, True])
async def test_chat_and_completions_release_held_text_alike(
    finish: str | None, think_open: bool
) -> None:
    """Text that never met a think tag is answer when the model ended it itself, reasoning when
    it was cut (max_tokens, a filter, a stream that broke off): the same in both APIs."""
    answers = {}
    for api, chunk in ((ApiKind.OPENAI_CHAT, _chat), (ApiKind.OPENAI_COMPLETIONS, _completion)):
        body = sse((None, chunk("Plain ", None)), (None, chunk("text.", finish)))
        if finish is not None:
            body += sse((None, "[DONE]"))
        out = await run(api, STRIP, [body], streaming=True, think_open=think_open)
        answers[api] = _answer(api, out)
    assert answers[ApiKind.OPENAI_CHAT] == answers[ApiKind.OPENAI_COMPLETIONS]
    assert answers[ApiKind.OPENAI_CHAT] == ("Plain text." if finish == "stop" else "")


async def test_a_lost_event_keeps_held_completions_text_reasoning() -> None:
    """An unreadable event (a `</think>` may be in it) makes held text reasoning at the finish,
    in Completions as in Chat."""
    body = sse(
        (None, _completion("Seventeen times twenty. ", None)),
        (None, _completion("</think>", None)),
        (None, _completion("391.", "stop")),
        (None, "[DONE]"),
    )
    pieces = body.split(b"\n\n")
    pieces[1] = pieces[1].replace(b'"choices"', b'\xff"choices"', 1)  # no longer JSON
    out = await run(ApiKind.OPENAI_COMPLETIONS, STRIP, [b"\n\n".join(pieces)], streaming=True)
    assert b"Seventeen" not in out
