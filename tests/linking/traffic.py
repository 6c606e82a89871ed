"""A small labelled traffic generator for linking tests: a hydra farm behind rotating residential
IPs, a corporate NAT, and independent users, all on one popular SDK build."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from guardgate.model import ApiKind, Observation
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer

_VOCABULARY = (
    "garden recipe travel budget history music python invoice meeting poem weather physics "
    "holiday resume football chemistry marketing novel translate summary email kitchen "
    "painting startup interview climate biology guitar lecture museum hiking investment "
    "puzzle language camera theatre election ocean planet battery router spreadsheet"
)
WORDS = tuple(_VOCABULARY.split())
POPULAR_SDK = [
    (b"content-type", b"application/json"),
    (b"user-agent", b"OpenAI/Python 1.99.0"),
    (b"x-stainless-lang", b"python"),
    (b"x-stainless-package-version", b"1.99.0"),
]
FARM_SYSTEM = "You are a meticulous expert tutor producing complete worked solutions."
FARM_TEMPLATE = (
    "Solve the following {area} task from our curriculum. Show every intermediate step of "
    "your reasoning explicitly, justify each step, and then state the final answer clearly. "
    "Task: {task}"
)
CORP_SYSTEM = "You are Initech's internal helpdesk assistant. Be concise and polite."


@dataclass(frozen=True)
class Request:
    """One generated request and who sent it."""

    obs: Observation
    actor: str
    """'farm', 'corp' or 'user'."""


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "?"


def _body(system: str | None, prompt: str, temperature: float) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return {"model": "m-1", "messages": messages, "temperature": temperature}


def generate(seed: int = 1, hours: float = 6.0, start: float = 1_800_000_000.0) -> list[Request]:
    """Requests in time order: 12 farm accounts, 25 NAT employees, 40 independent users."""
    rng = random.Random(seed)
    observer = Observer(GuardgateSettings(secret="traffic"))
    events: list[tuple[float, str, str]] = []
    for i in range(12):
        events += [(start + rng.uniform(0, hours * 3600), "farm", f"farm-{i}") for _ in range(25)]
    for i in range(25):
        events += [(start + rng.uniform(0, hours * 3600), "corp", f"corp-{i}") for _ in range(8)]
    for i in range(40):
        events += [(start + rng.uniform(0, hours * 3600), "user", f"user-{i}") for _ in range(6)]
    events.sort()
    out = []
    for ts, actor, who in events:
        if actor == "farm":
            ip = ".".join(str(rng.randint(11, 199)) for _ in range(4))
            task = f"{rng.randint(2, 99)} {_sentence(rng, 6)} {rng.randint(100, 999)}"
            area = rng.choice(["algebra", "geometry", "coding", "statistics"])
            body = _body(FARM_SYSTEM, FARM_TEMPLATE.format(area=area, task=task), 0.7)
        elif actor == "corp":
            ip = "198.51.100.10"
            body = _body(CORP_SYSTEM, _sentence(rng, rng.randint(9, 16)), 0.7)
        else:
            ip = f"203.0.{int(who.split('-')[1])}.9"
            body = _body(None, _sentence(rng, rng.randint(9, 16)), 0.7)
        headers = [(b"authorization", f"Bearer sk-{who}".encode()), *POPULAR_SDK]
        obs = observer.observe(ApiKind.OPENAI_CHAT, headers, ip, body, ts)
        out.append(Request(obs, actor))
    return out
