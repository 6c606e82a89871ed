"""Summarisers: shorter than the trace, no sentence reproduced, LLM fallback on failure."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from pydantic import SecretStr

from guardgate.hardening.summariser import (
    LLMSummariser,
    LocalSummariser,
    summariser_from_settings,
)
from guardgate.settings import GuardgateSettings

TRACES = [
    "Okay, the user wants the sum of the first 100 primes. Let me start by listing primes: 2, 3, "
    "5, 7, 11. I need to be careful with the count.\nLet me check the count again by grouping "
    "them in tens. The 100th prime is 541. Adding them in blocks gives 24133.\nLet me verify "
    "with the known value of the sum. So the answer is 24133.",
    "We need to find where the bug is. The function returns None when the list is empty. "
    "Testing with an empty list confirms it. Therefore the fix is to return 0 for an empty list.",
    "Compute 17 * 23. 17 * 20 = 340 and 17 * 3 = 51. Total 391.",
    "Answer 42.",
    "用户问的是天气。我应该查一下。所以答案是晴天。",
]


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|(?<=[\u3002])|\n+", text)
    return [p.strip().rstrip(".") for p in parts if len(p.strip().rstrip(".")) >= 6]


@pytest.mark.parametrize("trace", TRACES)
async def test_local_summary_is_shorter_and_quotes_no_sentence(trace: str) -> None:
    summary = await LocalSummariser().summarise(trace)
    assert summary or len(trace) < 20
    assert len(summary) < len(trace)
    for sentence in sentences(trace):
        assert sentence.lower() not in summary.lower(), sentence


async def test_local_summary_keeps_the_gist() -> None:
    summary = await LocalSummariser().summarise(TRACES[0])
    assert summary.startswith("Summary: considered")
    assert "24133" in summary and "primes" in summary
    assert "grouping them in tens" not in summary


async def test_long_trace_gets_a_bounded_summary() -> None:
    trace = " ".join(f"Step {i}: add {i} to the running total of values." for i in range(400))
    summary = await LocalSummariser().summarise(trace)
    assert len(summary) <= 240


def summary_server(reply: httpx.Response | Exception) -> httpx.AsyncClient:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client.seen = seen  # type: ignore[attr-defined]
    return client


async def test_llm_summariser_uses_the_endpoint() -> None:
    reply = httpx.Response(200, json={"choices": [{"message": {"content": "Added primes."}}]})
    async with summary_server(reply) as client:
        summariser = LLMSummariser(client, base_url="http://s/v1/", model="m", api_key="k")
        assert await summariser.summarise(TRACES[0]) == "Added primes."
        request = client.seen[0]  # type: ignore[attr-defined]
        assert str(request.url) == "http://s/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer k"
        assert json.loads(request.content)["messages"][1]["content"] == TRACES[0]


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(500, json={"error": {}}),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"choices": [{"message": {"content": TRACES[0] + "!"}}]}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
async def test_llm_summariser_falls_back_to_local(reply: httpx.Response | Exception) -> None:
    async with summary_server(reply) as client:
        summariser = LLMSummariser(client, base_url="http://s/v1", model="m")
        summary = await summariser.summarise(TRACES[0])
    assert summary == await LocalSummariser().summarise(TRACES[0])


async def test_settings_choose_the_summariser() -> None:
    local = GuardgateSettings(secret=SecretStr("s"))
    assert isinstance(summariser_from_settings(local), LocalSummariser)
    remote = GuardgateSettings(
        secret=SecretStr("s"), summariser_url="http://s/v1", summariser_model="m"
    )
    async with httpx.AsyncClient() as client:
        assert isinstance(summariser_from_settings(remote, client), LLMSummariser)
    assert isinstance(summariser_from_settings(remote), LocalSummariser)
