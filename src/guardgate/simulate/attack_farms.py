"""Multi-account distillation farms: a hydra cluster, a stealthy farm, a model hopper."""

from __future__ import annotations

import heapq

from guardgate.model import ApiKind
from guardgate.simulate.agents import AgentLoop
from guardgate.simulate.bodies import ANTHROPIC_MODEL, NEW_MODEL, sampling_params, text_body
from guardgate.simulate.clients import ClientBuild, ClientKind, random_build
from guardgate.simulate.config import DAY, HOUR
from guardgate.simulate.emitter import Account
from guardgate.simulate.farm_prompts import (
    HOPPER_TEMPLATE,
    HYDRA_SYSTEM,
    hydra_prompt,
    payload,
    stealth_prompt,
)
from guardgate.simulate.legit_coding import coding_task
from guardgate.simulate.network import ProxyNetwork, residential_ip
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

_FARM_OPENAI = ClientBuild(ClientKind.OPENAI_PY, "1.66.3", "Linux", "x64", "3.11.9", True)
_FARM_ANTHROPIC = ClientBuild(ClientKind.ANTHROPIC_PY, "0.49.0", "Linux", "x64", "3.11.9", True)


def _farm_params(api: ApiKind, model: str) -> dict[str, object]:
    """The farm's fixed parameters per model: long outputs, thinking on."""
    if api is ApiKind.ANTHROPIC_MESSAGES:
        return {"max_tokens": 16000, "thinking": {"type": "enabled", "budget_tokens": 12000}}
    if model in ("o3-mini", NEW_MODEL):
        return {"max_completion_tokens": 16000, "reasoning_effort": "high"}
    return {"temperature": 0.6, "max_tokens": 8192}


def hydra_farm(world: World) -> None:
    """Hundreds of accounts behind a rotating residential proxy network, load-balanced.

    A job queue feeds whichever active account was used least recently; each account keeps
    a proxy exit for one to three requests. Accounts come and go (bans, rotation). One SDK
    build and one parameter set everywhere; one shared template with slot fillers, plus
    about 15% resold traffic of unrelated customers mixed in.
    """
    rng = world.rng("hydra_farm")
    cfg = world.config
    proxies = ProxyNetwork(rng, cfg.count(1500, minimum=40))
    span = cfg.end - cfg.start
    accounts: list[tuple[float, float, Account, ApiKind]] = []
    for _ in range(cfg.count(300, minimum=6)):
        anthropic = rng.random() < 0.3
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        account = world.emitter.account(
            rng,
            actor="hydra-1",
            population="hydra_farm",
            attack=True,
            build=_FARM_ANTHROPIC if anthropic else _FARM_OPENAI,
            anthropic=anthropic,
        )
        born = cfg.start + rng.uniform(-0.4, 0.7) * span
        accounts.append((born, born + rng.uniform(2.0, 6.0) * DAY, account, api))
    accounts.sort(key=lambda a: a[0])
    # (last used, index) of active accounts; least recently used is served next.
    idle: list[tuple[float, int]] = []
    joined = 0
    exits: dict[int, tuple[str, int]] = {}
    for job in poisson_process(rng, cfg.start, cfg.end, 700 * cfg.scale / DAY):
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
        _, _, account, api = accounts[chosen]
        ts = job
        steps = rng.randint(2, 5) if rng.random() < 0.25 else 1
        loop = None
        if steps > 1:
            model = ANTHROPIC_MODEL if api.is_anthropic else "o3-mini"
            loop = AgentLoop(
                rng,
                api,
                model,
                HYDRA_SYSTEM,
                hydra_prompt(rng),
                thinking_budget=12000 if api.is_anthropic else None,
                extra=_farm_params(api, model),
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
                model = (
                    ANTHROPIC_MODEL
                    if api.is_anthropic
                    else rng.choice(("deepseek-r1", "o3-mini", "gpt-4o"))
                )
                resold = rng.random() < 0.15
                text = question(rng) if resold else hydra_prompt(rng)
                body = text_body(api, model, (), text, system=None if resold else HYDRA_SYSTEM)
                body.update(_farm_params(api, model))
            world.emitter.emit(rng, ts, ip, account, api, body)
            ts += model_latency(rng, rng.randint(800, 4000), True) + rng.uniform(0.2, 2.0)
        heapq.heappush(idle, (ts, chosen))


_STEALTH_CLIENTS = (ClientKind.OPENAI_PY, ClientKind.OPENAI_NODE, ClientKind.REQUESTS)


def stealth_farm(world: World) -> None:
    """Fewer accounts, each with a sticky residential IP, a persona's time zone and habits.

    Paraphrased templates (each account favours two of five phrasings), about 30% innocent
    filler, varied client versions, human diurnal timing, occasional follow-up turns.
    """
    rng = world.rng("stealth_farm")
    cfg = world.config
    members, volume = cfg.sized(40, minimum=3)
    for _ in range(members):
        kind = rng.choice((*_STEALTH_CLIENTS, ClientKind.ANTHROPIC_PY))
        build = random_build(rng, kind)
        anthropic = kind is ClientKind.ANTHROPIC_PY
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        account = world.emitter.account(
            rng,
            actor="stealth-1",
            population="stealth_farm",
            attack=True,
            build=build,
            anthropic=anthropic,
        )
        ip = residential_ip(rng)
        tz = random_timezone(rng)
        variants = tuple(rng.sample(range(5), 2))
        model = ANTHROPIC_MODEL if anthropic else rng.choice(("o3-mini", "deepseek-r1", "gpt-4o"))
        params = sampling_params(rng, api, model)
        if anthropic and rng.random() < 0.5:
            params["max_tokens"] = 16000
            params["thinking"] = {"type": "enabled", "budget_tokens": 8000}
            params.pop("temperature", None)
        per_day = 15 * volume * rng.lognormvariate(-0.08, 0.4)
        for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day, PERSONAL_HOURS, 0.85):
            if rng.random() < 0.01:
                ip = residential_ip(rng)
            filler = rng.random() < 0.3
            first = question(rng) if filler else stealth_prompt(rng, variants)
            turns = 2 if rng.random() < 0.2 else 1
            chat_session(
                world,
                rng,
                account,
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
            )


def model_hopper(world: World) -> None:
    """A farm that moves to `frontier-2` within hours of its release, at heavy volume."""
    rng = world.rng("model_hopper")
    cfg = world.config
    proxies = ProxyNetwork(rng, cfg.count(400, minimum=20))
    pivot = cfg.release + rng.uniform(1.0, 4.0) * HOUR
    members, volume = cfg.sized(40, minimum=4)
    for i in range(members):
        anthropic = i % 2 == 0
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        build = random_build(rng, ClientKind.ANTHROPIC_PY if anthropic else ClientKind.OPENAI_PY)
        build = ClientBuild(build.kind, build.version, "Linux", "x64", "3.12.3", True)
        account = world.emitter.account(
            rng,
            actor="hopper-1",
            population="model_hopper",
            attack=True,
            build=build,
            anthropic=anthropic,
        )
        old_model = ANTHROPIC_MODEL if anthropic else "deepseek-r1"
        moved = pivot + rng.uniform(0, 2) * HOUR
        before = poisson_process(rng, cfg.start, min(moved, cfg.end), 4.0 * volume / DAY)
        after = poisson_process(rng, moved, cfg.end, 10.0 * volume / DAY)
        ip, ip_until = proxies.exit(rng), 0.0
        for ts in before + after:
            if ts >= ip_until:  # a sticky proxy session lasts about a day
                ip, ip_until = proxies.exit(rng), ts + rng.uniform(12, 36) * HOUR
            model = NEW_MODEL if ts >= moved and rng.random() < 0.92 else old_model
            params = _farm_params(api, model)
            if rng.random() < 0.5:
                loop = AgentLoop(
                    rng,
                    api,
                    model,
                    HYDRA_SYSTEM,
                    HOPPER_TEMPLATE.format(payload=coding_task(rng)),
                    thinking_budget=12000 if anthropic else None,
                    extra=params,
                )
                for _ in range(rng.randint(3, 8)):
                    world.emitter.emit(rng, ts, ip, account, api, loop.body())
                    ts += model_latency(rng, rng.randint(200, 1500), True) + rng.uniform(0.2, 3)
                    loop.advance()
            else:
                body = text_body(api, model, (), HOPPER_TEMPLATE.format(payload=payload(rng)))
                body.update(params)
                world.emitter.emit(rng, ts, ip, account, api, body)
