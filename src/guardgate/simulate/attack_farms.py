"""Multi-account distillation farms: a hydra cluster, a stealthy farm, a model hopper.

Every parameter (sizes, rates, client builds, wordings, models, limits) is drawn per seed, and each
farm's accounts are dealt over the adaptive variants of `simulate.adapt`.
"""

from __future__ import annotations

import heapq
import random

from guardgate.model import ApiKind
from guardgate.simulate.adapt import Campaign
from guardgate.simulate.agents import AgentLoop
from guardgate.simulate.bodies import ANTHROPIC_MODEL, NEW_MODEL, sampling_params, text_body
from guardgate.simulate.clients import ClientBuild, ClientKind, random_build
from guardgate.simulate.config import DAY, HOUR
from guardgate.simulate.farm_prompts import farm_prompt, farm_wording
from guardgate.simulate.legit_coding import coding_task
from guardgate.simulate.network import ProxyNetwork, cloud_ip, residential_ip
from guardgate.simulate.sessions import chat_session
from guardgate.simulate.text import question
from guardgate.simulate.timing import (
    PERSONAL_HOURS,
    daily_times,
    model_latency,
    poisson_process,
    random_timezone,
)
from guardgate.simulate.world import World


def farm_params(rng: random.Random) -> dict[str, int]:
    """A farm's output limits for this seed: long outputs, generous thinking budgets."""
    cap = rng.choice((8192, 10000, 12000, 16000, 16384, 32000))
    return {"cap": cap, "budget": rng.randint(cap // 2, cap * 3 // 4)}


def params_for(limits: dict[str, int], api: ApiKind, model: str) -> dict[str, object]:
    """The farm's fixed parameters for `model`: long outputs, thinking on."""
    cap = limits["cap"]
    if api is ApiKind.ANTHROPIC_MESSAGES:
        return {
            "max_tokens": cap,
            "thinking": {"type": "enabled", "budget_tokens": limits["budget"]},
        }
    if model in ("o3-mini", NEW_MODEL):
        return {"max_completion_tokens": cap, "reasoning_effort": "high"}
    return {"temperature": 0.6, "max_tokens": min(cap, 8192)}


def server_build(rng: random.Random, kind: ClientKind) -> ClientBuild:
    """One client build a farm runs on all its machines, drawn for this seed."""
    build = random_build(rng, kind, server=True)
    return ClientBuild(build.kind, build.version, "Linux", "x64", build.runtime_version, True)


def hydra_farm(world: World) -> None:
    """Hundreds of accounts behind a rotating residential proxy network, load-balanced.

    A job queue feeds whichever active account was used least recently; each account keeps
    a proxy exit for one to three requests. Accounts come and go (bans, rotation). One SDK
    build and one parameter set everywhere; one shared template with slot fillers, plus
    some resold traffic of unrelated customers mixed in.
    """
    rng = world.rng("hydra_farm")
    cfg = world.config
    campaign = Campaign(world, "hydra_farm", rng)
    proxies = ProxyNetwork(rng, cfg.count(rng.uniform(800, 2000), minimum=40))
    wording = farm_wording(rng)
    limits = farm_params(rng)
    builds = {
        False: server_build(rng, ClientKind.OPENAI_PY),
        True: server_build(rng, ClientKind.ANTHROPIC_PY),
    }
    anthropic_share = rng.uniform(0.15, 0.5)
    models = rng.sample(("deepseek-r1", "o3-mini", "gpt-4o", NEW_MODEL), rng.randint(1, 3))
    jobs_per_day = rng.uniform(450, 900)
    loop_share = rng.uniform(0.1, 0.35)
    resold_share = rng.uniform(0.05, 0.25)
    n_accounts = cfg.count(rng.uniform(200, 360), minimum=6)
    world.note(
        "hydra_farm",
        members=n_accounts,
        jobs_per_day=jobs_per_day,
        build=builds[False].version,
        template=wording.template,
        models=tuple(models),
        cap=limits["cap"],
    )
    span = cfg.end - cfg.start
    accounts = []
    for _ in range(n_accounts):
        anthropic = rng.random() < anthropic_share
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        who = campaign.account(actor="hydra-1", build=builds[anthropic], anthropic=anthropic)
        born = cfg.start + rng.uniform(-0.4, 0.7) * span
        accounts.append((born, born + rng.uniform(2.0, 6.0) * DAY, who, api))
    accounts.sort(key=lambda a: a[0])
    # (last used, index) of active accounts; least recently used is served next.
    idle: list[tuple[float, int]] = []
    joined = 0
    exits: dict[int, tuple[str, int]] = {}
    for job in poisson_process(rng, cfg.start, cfg.end, jobs_per_day * cfg.scale / DAY):
        while joined < len(accounts) and accounts[joined][0] <= job:
            heapq.heappush(idle, (accounts[joined][0], joined))
            joined += 1
        chosen = None
        while idle:
            _, idx = heapq.heappop(idle)
            if accounts[idx][1] > job:
                chosen = idx
                break
        if chosen is None:
            continue
        _, _, who, api = accounts[chosen]
        ts = job
        steps = rng.randint(2, 5) if rng.random() < loop_share else 1
        loop = None
        if steps > 1:
            model = ANTHROPIC_MODEL if api.is_anthropic else rng.choice(models)
            loop = AgentLoop(
                rng,
                api,
                model,
                wording.system,
                farm_prompt(rng, wording),
                thinking_budget=limits["budget"] if api.is_anthropic else None,
                extra=params_for(limits, api, model),
            )
        for _ in range(steps):
            ip, left = exits.get(chosen, ("", 0))
            if left <= 0:
                ip, left = proxies.exit(rng), rng.choice((1, 1, 2, 3))
            exits[chosen] = (ip, left - 1)
            if loop is not None:
                body = loop.body()
                loop.advance()
            else:
                model = ANTHROPIC_MODEL if api.is_anthropic else rng.choice(models)
                resold = rng.random() < resold_share
                text = question(rng) if resold else farm_prompt(rng, wording)
                body = text_body(api, model, (), text, system=None if resold else wording.system)
                body.update(params_for(limits, api, model))
            campaign.send(who, ts, ip, api, body)
            ts += model_latency(rng, rng.randint(800, 4000), True) + rng.uniform(0.2, 2.0)
        heapq.heappush(idle, (ts, chosen))
    campaign.finish()


_STEALTH_CLIENTS = (ClientKind.OPENAI_PY, ClientKind.OPENAI_NODE, ClientKind.REQUESTS)


def datacenter_farm(world: World) -> None:
    """Hundreds of accounts on one hosting provider's range: a few hundred addresses of one or
    two /24s, an address or two per account, all busy at once from a job queue. One template,
    reasoning models at long limits; whatever the knobs copy from legitimate clients (their
    headers, parameters and system prompts, streaming, plain wording) it may copy."""
    rng = world.rng("datacenter_farm")
    cfg = world.config
    campaign = Campaign(world, "datacenter_farm", rng)
    ranges = [cloud_ip(rng).rsplit(".", 1)[0] for _ in range(rng.randint(1, 2))]
    wording = farm_wording(rng)
    limits = farm_params(rng)
    build = server_build(rng, ClientKind.OPENAI_PY)
    models = rng.sample(("deepseek-r1", "o3-mini", "gpt-4o", NEW_MODEL), rng.randint(1, 2))
    n_accounts = cfg.count(rng.uniform(250, 450), minimum=8)
    jobs_per_day = rng.uniform(400, 1000)
    world.note(
        "datacenter_farm",
        members=n_accounts,
        ranges=len(ranges),
        jobs_per_day=jobs_per_day,
        template=wording.template,
        models=tuple(models),
    )
    accounts = []
    for _ in range(n_accounts):
        who = campaign.account(actor="datacenter-1", build=build)
        hosts = [f"{rng.choice(ranges)}.{rng.randint(2, 254)}" for _ in range(rng.randint(1, 2))]
        accounts.append((who, hosts))
    api = ApiKind.OPENAI_CHAT
    for job in poisson_process(rng, cfg.start, cfg.end, jobs_per_day * cfg.scale / DAY):
        who, hosts = rng.choice(accounts)
        model = rng.choice(models)
        body = text_body(api, model, (), farm_prompt(rng, wording), system=wording.system)
        body.update(params_for(limits, api, model))
        campaign.send(who, job, rng.choice(hosts), api, body)
    campaign.finish()


def stealth_farm(world: World) -> None:
    """Fewer accounts, each with a sticky residential IP, a persona's time zone and habits.

    Paraphrased templates (each account favours two of five phrasings), innocent filler, varied
    client versions, human diurnal timing, occasional follow-up turns.
    """
    rng = world.rng("stealth_farm")
    cfg = world.config
    campaign = Campaign(world, "stealth_farm", rng)
    wording = farm_wording(rng)
    members, volume = world.members("stealth_farm", rng, 48, 84, minimum=3)
    base_rate = rng.uniform(10, 22)
    filler_share = rng.uniform(0.15, 0.4)
    world.note("stealth_farm", per_day=base_rate, filler=filler_share)
    for _ in range(members):
        kind = rng.choice((*_STEALTH_CLIENTS, ClientKind.ANTHROPIC_PY))
        build = random_build(rng, kind)
        anthropic = kind is ClientKind.ANTHROPIC_PY
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        who = campaign.account(actor="stealth-1", build=build, anthropic=anthropic)
        send = campaign.sender(who)
        ip = residential_ip(rng)
        tz = random_timezone(rng)
        model = ANTHROPIC_MODEL if anthropic else rng.choice(("o3-mini", "deepseek-r1", "gpt-4o"))
        params = sampling_params(rng, api, model)
        if anthropic and rng.random() < 0.5:
            params["max_tokens"] = rng.choice((12000, 16000))
            params["thinking"] = {"type": "enabled", "budget_tokens": rng.choice((6000, 8000))}
            params.pop("temperature", None)
        per_day = base_rate * volume * rng.lognormvariate(-0.08, 0.4)
        for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day, PERSONAL_HOURS, 0.85):
            if rng.random() < 0.01:
                ip = residential_ip(rng)
            filler = rng.random() < filler_share
            first = question(rng) if filler else farm_prompt(rng, wording, paraphrase=True)
            turns = 2 if rng.random() < 0.2 else 1
            chat_session(
                world,
                rng,
                who.account,
                api,
                model,
                ts,
                turns,
                ip,
                first,
                params=params,
                next_turn=lambda r: r.choice(
                    ("Can you double-check step 3?", "Explain the last step in more detail.")
                ),
                think_median=40.0,
                send=send,
            )
    campaign.finish()


def model_hopper(world: World) -> None:
    """A farm that moves to `frontier-2` within hours of its release, at heavy volume."""
    rng = world.rng("model_hopper")
    cfg = world.config
    campaign = Campaign(world, "model_hopper", rng)
    proxies = ProxyNetwork(rng, cfg.count(rng.uniform(200, 600), minimum=20))
    wording = farm_wording(rng)
    limits = farm_params(rng)
    pivot = cfg.release + rng.uniform(0.5, 6.0) * HOUR
    members, volume = world.members("model_hopper", rng, 36, 60, minimum=4)
    before_rate, after_rate = rng.uniform(2, 6), rng.uniform(7, 14)
    loop_share = rng.uniform(0.3, 0.6)
    anthropic_share = rng.uniform(0.3, 0.7)
    world.note("model_hopper", before=before_rate, after=after_rate, template=wording.template)
    old_openai = rng.choice(("deepseek-r1", "o3-mini"))
    for _ in range(members):
        anthropic = rng.random() < anthropic_share
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        build = server_build(rng, ClientKind.ANTHROPIC_PY if anthropic else ClientKind.OPENAI_PY)
        who = campaign.account(actor="hopper-1", build=build, anthropic=anthropic)
        old_model = ANTHROPIC_MODEL if anthropic else old_openai
        moved = pivot + rng.uniform(0, 2) * HOUR
        before = poisson_process(rng, cfg.start, min(moved, cfg.end), before_rate * volume / DAY)
        after = poisson_process(rng, moved, cfg.end, after_rate * volume / DAY)
        ip, ip_until = proxies.exit(rng), 0.0
        for ts in before + after:
            if ts >= ip_until:  # a sticky proxy session lasts about a day
                ip, ip_until = proxies.exit(rng), ts + rng.uniform(12, 36) * HOUR
            model = NEW_MODEL if ts >= moved and rng.random() < 0.92 else old_model
            params = params_for(limits, api, model)
            if rng.random() < loop_share:
                loop = AgentLoop(
                    rng,
                    api,
                    model,
                    wording.system,
                    wording.template.format(payload=coding_task(rng)),
                    thinking_budget=limits["budget"] if anthropic else None,
                    extra=params,
                )
                for _ in range(rng.randint(3, 8)):
                    campaign.send(who, ts, ip, api, loop.body())
                    ts += model_latency(rng, rng.randint(200, 1500), True) + rng.uniform(0.2, 3)
                    loop.advance()
            else:
                body = text_body(api, model, (), farm_prompt(rng, wording))
                body.update(params)
                campaign.send(who, ts, ip, api, body)
    campaign.finish()
