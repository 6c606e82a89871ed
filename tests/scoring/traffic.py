"""Observations of typical senders, for the scoring tests."""

from __future__ import annotations

from dataclasses import replace

from guardgate.model import ApiKind, Observation

DAY = 86400.0
T0 = 1_793_577_600.0


def farm_request(ts: float, i: int, account: str = "farm-1") -> Observation:
    """One request of a harvesting script: reasoning asked for at maximum length, no stream, no
    system prompt, a new proxy exit every request."""
    return Observation(
        ts=ts,
        api=ApiKind.OPENAI_CHAT,
        account=account,
        client_ip=f"81.{i % 200}.{i % 97}.7",
        ip_prefix=f"81.{i % 200}.{i % 97}.0/24",
        model="gpt-x",
        param_signature="p1",
        elicits_reasoning=True,
        capability="coding",
        max_tokens=16000,
        prompt_hash=f"{account}-task-{i}",
    )


def coding_agent_request(ts: float, i: int, account: str = "dev-1") -> Observation:
    """One step of a developer's agent loop: reasoning on, tools, long context, streamed; the
    last user text is the task the loop works on for about 15 steps (tool results carry none)."""
    return Observation(
        ts=ts,
        api=ApiKind.ANTHROPIC_MESSAGES,
        account=account,
        client_ip="90.1.2.3",
        ip_prefix="90.1.2.0/24",
        model="claude-x",
        stream=True,
        param_signature="p2",
        system_hash="sys",
        tools_hash="tools",
        elicits_reasoning=True,
        capability="tools",
        turns=5 + i % 20,
        max_tokens=32000,
        prompt_hash=f"{account}-task-{i // 15}",
    )


def eval_request(ts: float, i: int, account: str = "ci-1") -> Observation:
    """One benchmark item of a nightly eval run: step-by-step reasoning, single shot, fixed
    params, n=5 on some items, a moderate max_tokens."""
    base = Observation(
        ts=ts,
        api=ApiKind.OPENAI_CHAT,
        account=account,
        client_ip="34.1.2.3",
        ip_prefix="34.1.2.0/24",
        model="gpt-x",
        param_signature="p3",
        elicits_reasoning=True,
        capability="reasoning",
        max_tokens=2048,
        prompt_hash=f"benchmark-item-{i % 400}",
    )
    return replace(base, n=5) if i % 6 == 0 else base


def student_request(ts: float, i: int, account: str) -> Observation:
    """One turn of a student's homework chat in a study app on the campus network: the same
    homework wording as the rest of the class, no output limit, a conversation."""
    return Observation(
        ts=ts,
        api=ApiKind.OPENAI_CHAT,
        account=account,
        client_ip=f"131.1.{i % 4}.{i % 250}",
        ip_prefix=f"131.1.{i % 4}.0/24",
        model="gpt-x",
        param_signature="p4",
        system_hash="study-app",
        capability="reasoning",
        turns=1 + 2 * (i % 4),
        prompt_hash=f"homework-{i % 4}",
    )


def writer_request(ts: float, i: int, account: str = "writer-1") -> Observation:
    """A writer's chapter draft: a long answer asked for, single-shot, creative, streamed."""
    return Observation(
        ts=ts,
        api=ApiKind.ANTHROPIC_MESSAGES,
        account=account,
        client_ip="92.1.2.3",
        ip_prefix="92.1.2.0/24",
        model="claude-x",
        stream=True,
        param_signature=f"p{i % 3}",
        system_hash="novel",
        capability="chat",
        turns=1 if i % 3 else 3,
        max_tokens=16000,
        prompt_hash=f"{account}-chapter-{i}",
    )
