"""Legitimate coding agents: long tool loops in Anthropic Messages, Responses and Chat shapes."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from guardgate.model import ApiKind
from guardgate.simulate.agents import AgentLoop
from guardgate.simulate.bodies import ANTHROPIC_MODEL, random_id
from guardgate.simulate.clients import (
    CLAUDE_CLI_VERSIONS,
    CODEX_CLI_VERSIONS,
    ClientBuild,
    ClientKind,
    random_build,
)
from guardgate.simulate.config import HOUR
from guardgate.simulate.emitter import Account
from guardgate.simulate.network import office_ip, residential_ip
from guardgate.simulate.sessions import geometric_turns, model_at
from guardgate.simulate.snippets import identifier
from guardgate.simulate.text import VOCAB, question
from guardgate.simulate.timing import (
    FLAT_HOURS,
    WORK_HOURS,
    daily_times,
    model_latency,
    random_timezone,
)
from guardgate.simulate.workloads import agent_system
from guardgate.simulate.world import World

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
    """Developers running assorted coding agents through the working day."""
    rng = world.rng("coding_agent")
    cfg = world.config
    members, volume = world.members("coding_agent", rng, 30, 60)
    weights = [rng.uniform(0.2, 1.0) for _ in range(3)]
    world.note("coding_agent", mix=tuple(round(w, 2) for w in weights))
    for d in range(members):
        kind = rng.choices(
            (ClientKind.CLAUDE_CLI, ClientKind.CODEX_CLI, ClientKind.OPENAI_PY), weights
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
        account = world.user(rng, "coding_agent", f"dev-{d}", build, anthropic=api.is_anthropic)
        tz = random_timezone(rng)
        ips = (residential_ip(rng), office_ip(rng))
        adoption = rng.choice((0.0, 0.3, 0.8))
        lang = rng.choice(("Python", "TypeScript", "Go"))
        per_day = 1.6 * volume * rng.lognormvariate(0, 0.5)
        system = agent_system(cfg.seed, _AGENT_NAMES[kind])
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
                system,
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


_AGENT_NAMES = {
    ClientKind.CLAUDE_CLI: "claude",
    ClientKind.CODEX_CLI: "codex",
    ClientKind.OPENAI_PY: "aider",
}


@dataclass(frozen=True)
class PopularAgent:
    """This seed's most popular coding agent: what every one of its users sends alike."""

    kind: ClientKind
    api: ApiKind
    system: str
    versions: tuple[str, ...]
    """Its current release first, then the previous ones."""
    keep_steps: int
    output_lines: int

    def popular_build(self, rng: random.Random) -> ClientBuild:
        """A user's installation: mostly the current release, on a laptop."""
        version = self.versions[0] if rng.random() < 0.7 else rng.choice(self.versions)
        os_name, arch = rng.choices(
            (("MacOS", "arm64"), ("Linux", "x64"), ("Windows", "x64")), (6, 3, 1)
        )[0]
        runtime = "v22.14.0" if rng.random() < 0.7 else rng.choice(("v20.18.0", "v22.11.0"))
        return ClientBuild(self.kind, version, os_name, arch, runtime)

    def model(self, rng: random.Random, world: World, ts: float, adoption: float) -> str:
        """The model a session at `ts` runs on."""
        favourite = ANTHROPIC_MODEL if self.api.is_anthropic else "o3-mini"
        return model_at(rng, world, ts, favourite, adoption, delay=rng.uniform(0.5, 12) * HOUR)

    def session(
        self,
        rng: random.Random,
        world: World,
        ts: float,
        adoption: float,
        *,
        lang: str,
        budget: int,
        effort: str | tuple[str, ...],
    ) -> AgentLoop:
        """A coding session started at `ts` on a task from the bank, as the agent sends it:
        `budget` thinking tokens on Anthropic, `effort` on OpenAI (a tuple: one drawn per
        session)."""
        model = self.model(rng, world, ts, adoption)
        task = coding_task(rng)
        chosen = effort if isinstance(effort, str) else rng.choice(effort)
        return AgentLoop(
            rng,
            self.api,
            model,
            self.system,
            task,
            lang=lang,
            thinking_budget=budget if self.api.is_anthropic else None,
            keep_steps=self.keep_steps,
            output_lines=self.output_lines,
            extra=self.extra(rng, chosen),
        )

    def extra(self, rng: random.Random, effort: str = "medium") -> dict[str, object]:
        """The agent's per-session request fields."""
        extra: dict[str, object] = {"stream": True}
        if self.kind is ClientKind.CLAUDE_CLI:
            extra["metadata"] = {"user_id": f"user_{random_id(rng, '', 32).lower()}"}
        else:
            extra["prompt_cache_key"] = random_id(rng, "", 32).lower()
            extra["reasoning"] = {"effort": effort, "summary": "auto"}
        return extra


def popular_agent(world: World) -> PopularAgent:
    """The coding agent most developers use this seed (shared by its crowd and by farms that
    pose as it)."""
    rng = random.Random(f"{world.config.seed}:popular-agent")
    kind = rng.choice((ClientKind.CLAUDE_CLI, ClientKind.CODEX_CLI))
    api = ApiKind.ANTHROPIC_MESSAGES if kind is ClientKind.CLAUDE_CLI else ApiKind.OPENAI_RESPONSES
    versions = CLAUDE_CLI_VERSIONS if kind is ClientKind.CLAUDE_CLI else CODEX_CLI_VERSIONS
    newest = rng.randrange(1, len(versions))
    ordered = (versions[newest], *versions[:newest][::-1])
    return PopularAgent(
        kind,
        api,
        agent_system(world.config.seed, _AGENT_NAMES[kind]),
        ordered,
        keep_steps=rng.randint(14, 18),
        output_lines=rng.randint(4, 5),
    )


def agent_crowd(world: World) -> None:
    """The popular coding agent's whole crowd: a few heavy users who run it all day (some
    round the clock, on long tasks) and many occasional ones. All share its system prompt, tool
    schemas and client build; their contexts carry about 10 KB of history."""
    rng = world.rng("agent_crowd")
    cfg = world.config
    agent = popular_agent(world)
    members, volume = world.members("agent_crowd", rng, 150, 350)
    heavy_share = rng.uniform(0.1, 0.25)
    world.note("agent_crowd", agent=agent.kind.value, version=agent.versions[0], heavy=heavy_share)
    for d in range(members):
        heavy = rng.random() < heavy_share
        build = agent.popular_build(rng)
        account = world.user(
            rng, "agent_crowd", f"agent-user-{d}", build, anthropic=agent.api.is_anthropic
        )
        tz = random_timezone(rng)
        ips = (residential_ip(rng), office_ip(rng))
        lang = rng.choice(("Python", "TypeScript", "Go", "Rust"))
        adoption = rng.choice((0.0, 0.5, 0.9))
        if heavy:
            per_day = rng.uniform(1.5, 3.5) * volume
            hours = FLAT_HOURS if rng.random() < 0.3 else WORK_HOURS
            mean_steps = rng.uniform(12, 25)
        else:
            per_day = rng.uniform(0.1, 0.8) * volume
            hours, mean_steps = WORK_HOURS, rng.uniform(4, 12)
        budget = rng.choice((4000, 10000, 16000, 32000))
        _developer_sessions(
            rng,
            world,
            agent,
            account,
            daily_times(rng, cfg.start, cfg.end, tz, per_day, hours, 0.4),
            adoption,
            lang=lang,
            budget=budget,
            mean_steps=mean_steps,
            address=partial(rng.choice, ips),
        )


def _developer_sessions(
    rng: random.Random,
    world: World,
    agent: PopularAgent,
    account: Account,
    starts: list[float],
    adoption: float,
    *,
    lang: str,
    budget: int,
    mean_steps: float,
    address: Callable[[], str],
) -> None:
    """A developer's sessions with the popular agent, one from each of `starts`, each from the
    address `address` picks: tool-loop steps a developer's pace apart (a person reads, a tool
    runs)."""
    for ts in starts:
        loop = agent.session(
            rng, world, ts, adoption, lang=lang, budget=budget, effort=("low", "medium", "high")
        )
        ip = address()
        for _ in range(geometric_turns(rng, mean_steps, 80)):
            if not world.emitter.emit(rng, ts, ip, account, agent.api, loop.body()):
                break
            ts += model_latency(rng, rng.randint(60, 700), True) + rng.uniform(0.3, 20.0)
            loop.advance()


def agent_team(world: World) -> None:
    """Engineering teams that all run the popular coding agent from their office: three to a
    dozen engineers behind the company's one NAT address, through the working day of the team's
    time zone (and now and then from home), some heavy users and some occasional. What a farm
    posing as the agent shares on one cloud host (its address, its build, its prompts, volume
    per member) a team shares too: the hard negative for that farm."""
    rng = world.rng("agent_team")
    cfg = world.config
    agent = popular_agent(world)
    members, volume = world.members("agent_team", rng, 40, 90, minimum=3)
    sizes: list[int] = []
    while sum(sizes) < members:
        sizes.append(min(rng.randint(3, 12), members - sum(sizes)))
    world.note("agent_team", teams=len(sizes))
    d = 0
    for size in sizes:
        office = office_ip(rng)
        tz = random_timezone(rng)
        heavy_share = rng.uniform(0.2, 0.6)
        adoption = rng.choice((0.0, 0.5, 0.9))  # the team moves to a new model together
        for _ in range(size):
            heavy = rng.random() < heavy_share
            build = agent.popular_build(rng)
            account = world.user(
                rng, "agent_team", f"team-dev-{d}", build, anthropic=agent.api.is_anthropic
            )
            d += 1
            home = residential_ip(rng)
            lang = rng.choice(("Python", "TypeScript", "Go", "Rust"))
            if heavy:
                per_day, mean_steps = rng.uniform(1.5, 3.5) * volume, rng.uniform(12, 25)
            else:
                per_day, mean_steps = rng.uniform(0.2, 1.0) * volume, rng.uniform(4, 12)
            budget = rng.choice((4000, 10000, 16000, 32000))
            _developer_sessions(
                rng,
                world,
                agent,
                account,
                daily_times(rng, cfg.start, cfg.end, tz, per_day, WORK_HOURS, 0.2),
                adoption,
                lang=lang,
                budget=budget,
                mean_steps=mean_steps,
                address=partial(_home_or_office, rng, home, office),
            )


def _home_or_office(rng: random.Random, home: str, office: str) -> str:
    """A team member's address for a session: now and then home, else the office's one NAT."""
    return home if rng.random() < 0.15 else office
