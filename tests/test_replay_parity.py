"""Replay decides what the live sidecar decides: one recorded sequence, sent to a real sidecar on
a clock set to each record's time and replayed from the same records, gets the same answer per
request (status, and reasoning stripped or not), quotas and the engine's tiers included."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
from tests.gateway import running_mock, running_sidecar, settings_for

from guardgate.deployment import Deployment
from guardgate.replay import replay

T0 = 1_800_000_000.0
WORDS = " ".join(["river", "stone", "light", "cloud"] * 100)
HARVEST = (
    "Solve this coding problem and write out your complete reasoning step by step in full "
    "detail before the final answer: implement an interval tree in Python."
)


def _records() -> list[dict[str, Any]]:
    """Three 400-word prompts under ACCOUNT_TPM=1000, a farm account harvesting reasoning once
    a minute until the engine flags it (and its long answers fill its token quota), and a person
    chatting in between."""
    records: list[tuple[float, str, dict[str, Any]]] = []
    for i in range(3):
        body = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": WORDS}]}
        records.append((T0 + 1 + i, "sk-parity-words", body))
    for i in range(7):
        body = {
            "model": "mock-reasoning-content",
            "max_tokens": 16000,
            "logprobs": True,
            "messages": [{"role": "user", "content": f"{HARVEST} (item {i})"}],
        }
        records.append((T0 + 61.0 * (i + 1), "sk-parity-farm", body))
    for i in range(4):
        text = f"what should I cook tonight, idea {i}?"
        body = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": text}]}
        records.append((T0 + 97.0 * i + 0.5, "sk-parity-person", body))
    records.sort(key=lambda r: r[0])
    client = httpx.Client()
    lines = []
    for ts, key, body in records:
        # The headers exactly as the live client sends them, in its order.
        request = client.build_request(
            "POST",
            "http://127.0.0.1/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
        )
        headers = {k.decode().lower(): v.decode() for k, v in request.headers.raw}
        lines.append(
            {
                "ts": ts,
                "ip": "127.0.0.1",
                "method": "POST",
                "path": "/v1/chat/completions",
                "headers": headers,
                "body": body,
            }
        )
    client.close()
    return lines


def _usage(reply: httpx.Response) -> dict[str, int] | None:
    """What the access log records of an answer: the usage the upstream reported."""
    if reply.status_code != 200:
        return None
    usage = reply.json()["usage"]
    return {
        "completion_tokens": usage["completion_tokens"],
        "prompt_tokens": usage["prompt_tokens"],
    }


def _answer(reply: httpx.Response) -> tuple[int, bool]:
    if reply.status_code != 200:
        return reply.status_code, False
    message = reply.json()["choices"][0]["message"]
    return 200, not message.get("reasoning_content")


def _live(lines: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    """Each line sent to a real sidecar on a clock set to its time; the usage each answer
    reported is written into the line, as an access log records it."""
    clock = [0.0]
    answers: list[tuple[int, bool]] = []
    with (
        running_mock() as mock,
        running_sidecar(mock.url, clock=lambda: clock[0], account_tpm=1000) as sidecar,
        httpx.Client(base_url=sidecar.url, timeout=15) as http,
    ):
        for line in lines:
            clock[0] = line["ts"]
            reply = http.post(line["path"], json=line["body"], headers=line["headers"])
            answers.append(_answer(reply))
            line["usage"] = _usage(reply)
            # The answer's tokens are charged as the exchange ends, just after the client has
            # the answer: a log records a request after its answer, so the next one waits.
            time.sleep(0.05)
    return answers


async def test_replay_and_the_live_sidecar_decide_the_same() -> None:
    lines = _records()
    live = _live(lines)
    settings = settings_for("http://127.0.0.1:9", account_tpm=1000)

    decisions = io.StringIO()
    replay_clock = [0.0]
    source = io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode())
    await replay(
        source,
        deployment=Deployment.from_settings(settings, lambda: replay_clock[0]),
        clock=replay_clock,
        decisions=decisions,
    )
    replayed = [
        (d["status"], d["status"] == 200 and "strip_reasoning" in d["actions"])
        for d in map(json.loads, decisions.getvalue().splitlines())
    ]
    assert replayed == live
    # The sequence exercises what it is meant to: the 400-word prompts' 429, a stripped answer,
    # and the farm limited by its answers' tokens.
    assert live[3] == (429, False) and (200, True) in live and live.count((429, False)) >= 2
