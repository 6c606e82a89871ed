"""Simulated SDK headers match what the installed SDKs really send, name for name, in order."""

from __future__ import annotations

import json
import platform
from typing import Any

import anthropic
import openai
import pytest
from starlette.types import Receive, Scope, Send

from guardgate.model import ApiKind
from guardgate.simulate.clients import ClientBuild, ClientKind, header_template, order_body
from guardgate.testing.server import ServerThread

_TRANSPORT = {"host", "content-length"}
_CHAT = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
}
_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


class Recorder:
    """An ASGI app that records each request's headers and body and answers minimally."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[tuple[str, str]], dict[str, Any]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        self.seen.append((headers, json.loads(body)))
        reply = _MESSAGE if scope["path"].endswith("/messages") else _CHAT
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(reply).encode()})


def _installed_build(kind: ClientKind, version: str) -> ClientBuild:
    os_name = {"Linux": "Linux", "Darwin": "MacOS", "Windows": "Windows"}[platform.system()]
    arch = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    return ClientBuild(kind, version, os_name, arch, platform.python_version())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_openai_python_headers_match_the_installed_sdk(recorder: Recorder) -> None:
    with ServerThread(recorder) as srv:
        client = openai.OpenAI(api_key="sk-proj-test", base_url=srv.url + "/v1", max_retries=0)
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], temperature=0
        )
        client.close()
    real, real_body = recorder.seen[0]
    build = _installed_build(ClientKind.OPENAI_PY, openai.__version__)
    ours = header_template(build, ApiKind.OPENAI_CHAT, "sk-proj-test")
    assert ours == [(k, v) for k, v in real if k not in _TRANSPORT]
    body = order_body(build, {"messages": [], "temperature": 0, "model": "gpt-4o"})
    assert list(body) == list(real_body)


def test_anthropic_python_headers_match_the_installed_sdk(recorder: Recorder) -> None:
    with ServerThread(recorder) as srv:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=srv.url, max_retries=0)
        client.messages.create(
            model="claude-test",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
        )
        client.close()
    real, real_body = recorder.seen[0]
    build = _installed_build(ClientKind.ANTHROPIC_PY, anthropic.__version__)
    ours = header_template(build, ApiKind.ANTHROPIC_MESSAGES, "sk-ant-test")
    assert ours == [(k, v) for k, v in real if k not in _TRANSPORT]
    body = order_body(build, {"model": "m", "messages": [], "max_tokens": 10})
    assert list(body) == list(real_body)


def test_legacy_anthropic_builds_send_x_api_key() -> None:
    build = ClientBuild(ClientKind.ANTHROPIC_PY, "0.49.0")
    headers = dict(header_template(build, ApiKind.ANTHROPIC_MESSAGES, "sk-ant-k"))
    assert headers["x-api-key"] == "sk-ant-k"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
