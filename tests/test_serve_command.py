"""`guardgate serve` as an operator runs it: a real process, real SDK clients."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from tests.gateway import wait_healthy

from guardgate.testing import free_port


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    port, mock_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    env["GUARDGATE_SECRET"] = "serve-command-test-secret"
    env["GUARDGATE_METRICS_TOKEN"] = "serve-command-metrics"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "guardgate.cli",
            "serve",
            "--port",
            str(port),
            "--mock-upstream",
            "--mock-port",
            str(mock_port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url + "/_guardgate/health", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr:
            proc.stderr.close()


def test_serve_forwards_openai_sdk_calls(served: str) -> None:
    with openai.OpenAI(base_url=served + "/v1", api_key="sk-x", max_retries=0) as client:
        messages = [{"role": "user", "content": "What is 2 + 2?"}]
        reply = client.chat.completions.create(model="mock-reasoning-content", messages=messages)  # type: ignore[arg-type]
        assert reply.choices[0].message.content
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="mock-reasoning-content",
                messages=messages,  # type: ignore[arg-type]
                stream=True,
            )
            if chunk.choices
        )
        assert streamed == reply.choices[0].message.content


def test_serve_forwards_anthropic_sdk_calls(served: str) -> None:
    with anthropic.Anthropic(base_url=served, api_key="sk-ant-x", max_retries=0) as client:
        with client.messages.stream(
            model="claude-mock-1",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "Name a prime."}],
        ) as stream:
            final = stream.get_final_message()
        assert [b.type for b in final.content] == ["thinking", "text"]


def test_metrics_are_served(served: str) -> None:
    scraper = {"authorization": "Bearer serve-command-metrics"}
    text = httpx.get(served + "/_guardgate/metrics", headers=scraper).text
    assert "guardgate_requests_total" in text
