"""Adaptive farm variants: each knob changes exactly what it names, and nothing else."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from guardgate.model import ApiKind
from guardgate.simulate.adapt import (
    KNOBS,
    VARIANTS,
    Campaign,
    Tactics,
    bursts,
    human_time,
    long_threshold,
    plain_wording,
)
from guardgate.simulate.bodies import text_body
from guardgate.simulate.clients import ClientBuild, ClientKind
from guardgate.simulate.config import DAY, HOUR, SimulationConfig
from guardgate.simulate.world import World

_BUILD = ClientBuild(ClientKind.REQUESTS, "2.31.0", "Linux", "x64", "3.10.12")
_PROMPT = (
    "Solve the following.\n\nA train leaves at 9 and travels 120 km at 80 km/h. When does it "
    "arrive?\n\nWork through this step by step. Write out your complete reasoning before the "
    "final answer. End with 'Answer:' followed by the result."
)
_AUTH = {"authorization", "x-api-key"}


def _requests(knob: str | None) -> list[tuple[float, dict[str, Any], dict[str, Any]]]:
    """The same farm script sent by one account as designed and one account with `knob`,
    returned as (ts, record, label) of the knob's account (or the base one when None)."""
    config = SimulationConfig(days=2.0, seed=7)
    world = World.create(config)
    campaign = Campaign(world, "test_farm", random.Random(1))
    tactics = Tactics(frozenset({knob})) if knob else Tactics()
    who = campaign.account(actor="farm", build=_BUILD, variant=tactics)
    rng = random.Random(2)  # the script's draws: identical for every knob
    ts = config.start + 3600.0
    for i in range(12):
        model = "o3-mini" if i % 2 else "gpt-4o"
        params: dict[str, object] = (
            {"max_completion_tokens": 16000, "reasoning_effort": "high"}
            if model == "o3-mini"
            else {"temperature": 0.6, "max_tokens": 12000}
        )
        body = text_body(ApiKind.OPENAI_CHAT, model, (), _PROMPT, params=params)
        campaign.send(who, ts, "203.0.113.7", ApiKind.OPENAI_CHAT, body)
        ts += rng.uniform(600, 7200)
    campaign.finish()
    out = []
    for line, label in world.emitter.sorted_lines():
        record, lab = json.loads(line), json.loads(label)
        if record["headers"].get("x-stainless-retry-count") == "1":
            continue  # an SDK retry, not part of the script
        out.append((record["ts"], record, lab))
    return out


@pytest.fixture(scope="module")
def base() -> list[tuple[float, dict[str, Any], dict[str, Any]]]:
    return _requests(None)


def _differing(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def _user_texts(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def test_variants_are_base_each_knob_alone_and_all() -> None:
    names = [v.variant for v in VARIANTS]
    assert names == ["base", *KNOBS, "all"]
    assert VARIANTS[-1].knobs == frozenset(KNOBS)


def test_labels_name_campaign_and_variant(base: list[Any]) -> None:
    for knob in (None, "stream"):
        requests = _requests(knob)
        assert {lab["population"] for _, _, lab in requests} == {"test_farm"}
        assert {lab["variant"] for _, _, lab in requests} == {knob or "base"}
        assert all(lab["attack"] is True for _, _, lab in requests)


@pytest.mark.parametrize("knob", ["stream", "system", "params", "max_tokens", "wording"])
def test_body_knobs_change_only_their_fields(base: list[Any], knob: str) -> None:
    adapted = _requests(knob)
    assert len(adapted) == len(base)
    for (ts0, rec0, _), (ts1, rec1, _) in zip(base, adapted, strict=True):
        assert ts0 == ts1 and rec0["ip"] == rec1["ip"]
        headers0 = {k: v for k, v in rec0["headers"].items() if k not in _AUTH}
        headers1 = {k: v for k, v in rec1["headers"].items() if k not in _AUTH}
        assert headers0 == headers1
        b0, b1 = rec0["body"], rec1["body"]
        changed = _differing(b0, b1)
        if knob == "stream":
            assert b1["stream"] is True and changed == {"stream", "stream_options"}
        elif knob == "system":
            assert changed == {"messages"}
            assert b1["messages"][0]["role"] == "system"
            assert b1["messages"][1:] == b0["messages"]
        elif knob == "params":
            assert changed <= {
                "temperature", "top_p", "presence_penalty", "reasoning_effort",
                "max_completion_tokens",
            }  # fmt: skip
        elif knob == "max_tokens":
            assert changed and changed <= {"max_tokens", "max_completion_tokens"}
            cap = b1.get("max_tokens", b1.get("max_completion_tokens"))
            assert long_threshold() * 0.85 <= cap < long_threshold()
        else:
            assert changed == {"messages"}
            [text] = _user_texts(b1)
            assert "step by step" not in text and "reasoning" not in text
            assert "120 km at 80 km/h" in text and "Answer:" in text
    if knob == "params":
        signatures = {
            json.dumps({k: v for k, v in r["body"].items() if k not in ("model", "messages")})
            for _, r, _ in adapted
        }
        assert len(signatures) >= len(adapted) - 2  # drawn afresh for every request


def test_exit_ip_changes_only_the_address(base: list[Any]) -> None:
    adapted = _requests("exit_ip")
    assert [r["body"] for _, r, _ in adapted] == [r["body"] for _, r, _ in base]
    assert [ts for ts, _, _ in adapted] == [ts for ts, _, _ in base]
    ips = [r["ip"] for _, r, _ in adapted]
    assert len(set(ips)) >= len(ips) - 1 and "203.0.113.7" not in ips


def test_headers_copy_a_popular_sdk_build(base: list[Any]) -> None:
    adapted = _requests("headers")
    assert [r["body"]["messages"] for _, r, _ in adapted] == [
        r["body"]["messages"] for _, r, _ in base
    ]
    agent = adapted[0][1]["headers"]["user-agent"]
    assert agent.startswith("OpenAI/Python ") and "x-stainless-os" in adapted[0][1]["headers"]
    assert base[0][1]["headers"]["user-agent"].startswith("python-requests/")


@pytest.mark.parametrize("knob", ["hours", "burst"])
def test_timing_knobs_change_only_the_times(base: list[Any], knob: str) -> None:
    adapted = _requests(knob)
    assert [r["body"] for _, r, _ in adapted] == [r["body"] for _, r, _ in base]
    assert [r["ip"] for _, r, _ in adapted] == [r["ip"] for _, r, _ in base]
    times = [ts for ts, _, _ in adapted]
    assert times != [ts for ts, _, _ in base]
    if knob == "burst":
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert sum(g < 2.0 for g in gaps) >= len(gaps) // 2


def test_filler_adds_innocent_requests_and_keeps_the_farms(base: list[Any]) -> None:
    adapted = _requests("filler")
    farm = [r for _, r, _ in adapted if _PROMPT in _user_texts(r["body"])]
    extra = [r for _, r, _ in adapted if _PROMPT not in _user_texts(r["body"])]
    assert [r["body"] for r in farm] == [r["body"] for _, r, _ in base]
    assert 0.25 * len(base) <= len(extra) <= 0.65 * len(base)
    assert all("step by step" not in " ".join(_user_texts(r["body"])) for r in extra)


def test_human_time_follows_waking_hours_and_keeps_order() -> None:
    start = 1793577600.0
    rng = random.Random(3)
    times = sorted(start + rng.uniform(0, 3 * DAY) for _ in range(3000))
    moved = [human_time(t, -5.0) for t in times]
    assert moved == sorted(moved)
    local_hours = [((t - 5 * HOUR) % DAY) / HOUR for t in moved]
    night = sum(2 <= h < 6 for h in local_hours) / len(local_hours)
    assert night < 0.03  # uniform would put 1/6 of them there


def test_bursts_are_machine_paced() -> None:
    times = [float(i * 600) for i in range(40)]
    out = bursts(random.Random(4), times)
    assert len(out) == len(times)
    gaps = [b - a for a, b in itertools.pairwise(out)]
    assert sum(0 < g < 2.0 for g in gaps) >= 25


def test_plain_wording_keeps_code_and_payload() -> None:
    text = (
        "Think it through carefully and show all of your reasoning.\n\n"
        "Fix this:\n```python\ndef think(reasoning):\n    return reasoning\n```\n\n"
        "Then explain your reasoning step by step."
    )
    plain = plain_wording(text, "Be thorough.")
    assert "def think(reasoning):" in plain and "Fix this:" in plain
    assert "step by step" not in plain and "carefully" not in plain
    assert plain.endswith("Be thorough.")
    assert plain_wording("What is 2 + 2?", "Be thorough.") == "What is 2 + 2?"
