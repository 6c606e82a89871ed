"""Legitimate coding agents: long tool loops in Anthropic Messages, Responses and Chat shapes."""

from __future__ import annotations

import random

from guardgate.model import ApiKind
from guardgate.simulate.agents import AgentLoop
from guardgate.simulate.bodies import ANTHROPIC_MODEL, random_id
from guardgate.simulate.clients import ClientKind, random_build
from guardgate.simulate.config import HOUR
from guardgate.simulate.network import office_ip, residential_ip
from guardgate.simulate.sessions import geometric_turns, model_at
from guardgate.simulate.snippets import identifier
from guardgate.simulate.text import VOCAB, question
from guardgate.simulate.timing import WORK_HOURS, daily_times, model_latency, random_timezone
from guardgate.simulate.world import World

AGENT_SYSTEMS = {
    ClientKind.CLAUDE_CLI: (
        "You are an interactive CLI tool that helps users with software engineering tasks. "
        "Use the instructions below and the tools available to you to assist the user. "
        "Be concise. Prefer editing existing files to creating new ones. Never commit changes "
        "unless the user explicitly asks. Run the project's tests after making changes."
    ),
    ClientKind.CODEX_CLI: (
        "You are a coding agent running in a terminal-based assistant. You can read files, "
        "run shell commands and apply patches. Keep going until the user's query is completely "
        "resolved before ending your turn. Do not guess file contents; read them. Keep your "
        "final message brief and list the files you changed."
    ),
    ClientKind.OPENAI_PY: (
        "Act as an expert software developer. Always use best practices when coding. Respect "
        "and use existing conventions, libraries, etc that are already present in the code "
        "base. Take requests for changes to the supplied code. Use the tools to inspect files "
        "and run tests."
    ),
}

_REPO_TASKS = (
    "Fix the failing test in tests/test_{f}.py.",
    "Add pagination to the {f} endpoint and update the tests.",
    "Refactor {f} to use {lib}; keep behaviour the same.",
    "Why does {f} raise {error} on empty input? Fix it.",
    "Write tests for {f} covering the edge cases.",
    "Rename {f} to {g} everywhere and update the docs.",
    "The CI job fails on {lib} upgrade; make it pass.",
    "Add a --dry-run flag to the {f} command.",
)


def coding_task(rng: random.Random) -> str:
    """A developer's request to their coding agent."""
    task = rng.choice(_REPO_TASKS).format(
        f=identifier(rng),
        g=identifier(rng),
        lib=rng.choice(VOCAB["lib"]),
        error=rng.choice(VOCAB["error"]),
    )
    if rng.random() < 0.3:
        task += " " + question(rng, ("coding",))
    return task


def coding_agent(world: World) -> None:
    """Developers running coding agents through the working day."""
    rng = world.rng("coding_agent")
    cfg = world.config
    members, volume = cfg.sized(50)
    for d in range(members):
        kind = rng.choices(
            (ClientKind.CLAUDE_CLI, ClientKind.CODEX_CLI, ClientKind.OPENAI_PY), (0.4, 0.3, 0.3)
        )[0]
        build = random_build(rng, kind)
        if kind is ClientKind.CLAUDE_CLI:
            api, favourite = ApiKind.ANTHROPIC_MESSAGES, ANTHROPIC_MODEL
        elif kind is ClientKind.CODEX_CLI:
            api, favourite = ApiKind.OPENAI_RESPONSES, rng.choice(("o3-mini", "gpt-4.1-mini"))
        else:
            api, favourite = (
                ApiKind.OPENAI_CHAT,
                rng.choice(("gpt-4o", "gpt-4.1-mini", "deepseek-r1")),
            )
        account = world.emitter.account(
            rng,
            actor=f"dev-{d}",
            population="coding_agent",
            attack=False,
            build=build,
            anthropic=api.is_anthropic,
        )
        tz = random_timezone(rng)
        ips = (residential_ip(rng), office_ip(rng))
        adoption = rng.choice((0.0, 0.3, 0.8))
        lang = rng.choice(("Python", "TypeScript", "Go"))
        per_day = 1.6 * volume * rng.lognormvariate(0, 0.5)
        for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day, WORK_HOURS, 0.25):
            model = model_at(rng, world, ts, favourite, adoption, delay=rng.uniform(1, 24) * HOUR)
            extra: dict[str, object] = {"stream": True}
            if kind is ClientKind.CLAUDE_CLI:
                extra["metadata"] = {"user_id": f"user_{random_id(rng, '', 32).lower()}"}
            elif kind is ClientKind.CODEX_CLI:
                extra["prompt_cache_key"] = random_id(rng, "", 32).lower()
            loop = AgentLoop(
                rng,
                api,
                model,
                AGENT_SYSTEMS[kind],
                coding_task(rng),
                lang=lang,
                thinking_budget=rng.choice((4000, 10000, 16000))
                if kind is ClientKind.CLAUDE_CLI
                else None,
                extra=extra,
            )
            ip = rng.choice(ips)
            for _ in range(geometric_turns(rng, 16.0, 60)):
                if not world.emitter.emit(rng, ts, ip, account, api, loop.body()):
                    break
                ts += model_latency(rng, rng.randint(60, 700), True) + rng.uniform(0.3, 15.0)
                loop.advance()
