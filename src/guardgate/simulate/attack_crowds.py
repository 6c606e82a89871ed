"""Farms that hide in crowds: low-and-slow account swarms, farms posing as a popular coding agent,
and reseller relays that mix distillers with honest customers."""

from __future__ import annotations

from dataclasses import dataclass

from guardgate.model import ApiKind
from guardgate.simulate.adapt import Campaign, FarmAccount
from guardgate.simulate.attack_farms import farm_params, params_for, server_build
from guardgate.simulate.bodies import (
    ANTHROPIC_MODEL,
    NEW_MODEL,
    random_id,
    sampling_params,
    text_body,
)
from guardgate.simulate.clients import ClientKind, random_build
from guardgate.simulate.config import DAY, HOUR
from guardgate.simulate.farm_prompts import farm_prompt, farm_wording
from guardgate.simulate.legit_coding import popular_agent
from guardgate.simulate.network import ProxyNetwork, cloud_ip
from guardgate.simulate.sessions import geometric_turns
from guardgate.simulate.text import question
from guardgate.simulate.timing import model_latency, poisson_process
from guardgate.simulate.world import World


@dataclass
class _Sleeper:
    """A low-and-slow account: when it lives, how many requests it has left, its exit."""

    born: float
    dies: float
    left: int
    who: FarmAccount
    anthropic: bool
    ip: str = ""


def low_slow_farm(world: World) -> None:
    """Thousands of accounts with 5-20 requests each, over a few days of life apiece.

    A controller sends waves of jobs a few times a day; each wave wakes a slice of the living
    accounts, which send one or two requests each from their own sticky proxy exit. One template
    (slots filled), one pinned script build on most accounts, reasoning models at long limits.
    """
    rng = world.rng("low_slow_farm")
    cfg = world.config
    campaign = Campaign(world, "low_slow_farm", rng)
    proxies = ProxyNetwork(rng, cfg.count(rng.uniform(2000, 5000), minimum=50))
    wording = farm_wording(rng)
    limits = farm_params(rng)
    n = cfg.count(rng.uniform(1200, 2200), minimum=24)
    pinned = {
        False: server_build(rng, ClientKind.OPENAI_PY),
        True: server_build(rng, ClientKind.ANTHROPIC_PY),
    }
    pinned_share = rng.uniform(0.5, 0.9)
    anthropic_share = rng.uniform(0.2, 0.5)
    models = rng.sample(("deepseek-r1", "o3-mini", NEW_MODEL, "gpt-4o"), 2)
    waves_per_day = rng.uniform(4, 8)
    world.note("low_slow_farm", members=n, waves=waves_per_day, template=wording.template)
    span = cfg.end - cfg.start
    living = []
    for _ in range(n):
        anthropic = rng.random() < anthropic_share
        kind = ClientKind.ANTHROPIC_PY if anthropic else ClientKind.OPENAI_PY
        build = pinned[anthropic] if rng.random() < pinned_share else random_build(rng, kind)
        who = campaign.account(actor="lowslow-1", build=build, anthropic=anthropic)
        born = cfg.start + rng.uniform(-0.1, 0.9) * span
        living.append(
            _Sleeper(born, born + rng.uniform(1.5, 4.0) * DAY, rng.randint(5, 20), who, anthropic)
        )
    for wave in poisson_process(rng, cfg.start, cfg.end, waves_per_day / DAY):
        for acct in living:
            if not (acct.born <= wave < acct.dies and acct.left > 0) or rng.random() < 0.5:
                continue
            if not acct.ip or rng.random() < 0.1:
                acct.ip = proxies.exit(rng)
            api = ApiKind.ANTHROPIC_MESSAGES if acct.anthropic else ApiKind.OPENAI_CHAT
            ts = wave + rng.uniform(0, 600)
            for _ in range(min(acct.left, rng.randint(1, 3))):
                model = ANTHROPIC_MODEL if acct.anthropic else rng.choice(models)
                body = text_body(api, model, (), farm_prompt(rng, wording), system=wording.system)
                body.update(params_for(limits, api, model))
                campaign.send(acct.who, ts, acct.ip, api, body)
                ts += model_latency(rng, rng.randint(800, 4000), True)
                acct.left -= 1
    campaign.finish()


def agent_farm(world: World) -> None:
    """A farm posing as users of the popular coding agent, harvesting agentic traces.

    It sends the agent's system prompt, tool schemas and client headers, runs long tool loops on
    tasks from a bank of synthetic repositories with the largest thinking budgets, and keeps its
    workers busy from a data centre around the clock.
    """
    _agent_farm(world, "agent_farm", "agentfarm-1", day_only=False)


DAY_WINDOW = (4, 20)
"""UTC hours within which `agent_day_farm` works: four whole four-hour slots of the detector's
clock (it has read `scoring.model.clock_share`)."""


def agent_day_farm(world: World) -> None:
    """The farm posing as the coding agent, adapted to the detector's round-the-clock rule: every
    account keeps to the same 16 UTC hours (four of the detector's four-hour slots), as an
    office's team does, and does a day's work in them (no session runs past the window)."""
    _agent_farm(world, "agent_day_farm", "agentdayfarm-1", day_only=True)


def _agent_farm(world: World, name: str, actor: str, *, day_only: bool) -> None:
    rng = world.rng(name)
    cfg = world.config
    campaign = Campaign(world, name, rng, window=DAY_WINDOW if day_only else None)
    agent = popular_agent(world)
    members, volume = world.members(name, rng, 36, 60, minimum=3)
    sessions_per_day = rng.uniform(1.5, 4.0)
    mean_steps = rng.uniform(10, 18)
    budget = rng.choice((16000, 24000, 32000))
    hosts = [cloud_ip(rng) for _ in range(rng.randint(2, 6))]
    world.note(name, sessions=sessions_per_day, steps=mean_steps, budget=budget)
    opens, closes = DAY_WINDOW
    for _ in range(members):
        build = agent.popular_build(rng)
        who = campaign.account(actor=actor, build=build, anthropic=agent.api.is_anthropic)
        ip = rng.choice(hosts)
        lang = rng.choice(("Python", "TypeScript", "Go"))
        rate = sessions_per_day * volume / DAY
        if day_only:
            # The same sessions a day, all started inside the window.
            rate *= 24 / (closes - opens)
        for ts in poisson_process(rng, cfg.start, cfg.end, rate):
            hour = ts % DAY / HOUR
            if day_only and not opens <= hour < closes - 0.5:
                continue
            closing = ts - ts % DAY + closes * HOUR
            loop = agent.session(rng, world, ts, 0.9, lang=lang, budget=budget, effort="high")
            for _ in range(geometric_turns(rng, mean_steps, 60)):
                if day_only and ts >= closing:
                    break
                campaign.send(who, ts, ip, agent.api, loop.body())
                ts += model_latency(rng, rng.randint(200, 1500), True) + rng.uniform(0.2, 2.0)
                loop.advance()
    campaign.finish()


def reseller_relay(world: World) -> None:
    """Relays reselling API access: a few keys from cloud servers, serving honest customers and
    distillers alike (a share drawn per relay)."""
    rng = world.rng("reseller_relay")
    cfg = world.config
    campaign = Campaign(world, "reseller_relay", rng)
    wording = farm_wording(rng)
    limits = farm_params(rng)
    world.note("reseller_relay", members=len(campaign.variants), template=wording.template)
    for _ in campaign.variants:
        kind = rng.choice((ClientKind.OPENAI_PY, ClientKind.OPENAI_NODE, ClientKind.AIOHTTP))
        build = random_build(rng, kind, server=True)
        who = campaign.account(actor=f"relay-{rng.randrange(10**6)}", build=build)
        servers = [cloud_ip(rng) for _ in range(rng.randint(1, 4))]
        distill_share = rng.uniform(0.2, 0.6)
        per_day = rng.uniform(60, 150) * cfg.scale
        models = rng.sample(("gpt-4o", "gpt-4.1-mini", "o3-mini", "deepseek-r1"), 3)
        api = ApiKind.OPENAI_CHAT
        for ts in poisson_process(rng, cfg.start, cfg.end, per_day / DAY):
            model = rng.choice(models)
            if rng.random() < distill_share:
                body = text_body(api, model, (), farm_prompt(rng, wording, paraphrase=True))
                body.update(params_for(limits, api, model))
            else:
                params = sampling_params(rng, api, model)
                if rng.random() < 0.5:
                    params["user"] = random_id(rng, "cust_", 10)
                body = text_body(api, model, (), question(rng), params=params,
                                 stream=rng.random() < 0.4)  # fmt: skip
            campaign.send(who, ts, rng.choice(servers), api, body)
    campaign.finish()
