"""Legitimate organisations: a consumer chat app, SaaS back ends, offices, eval harnesses."""

from __future__ import annotations

import random
from collections.abc import Callable

from guardgate.model import ApiKind
from guardgate.simulate.bodies import ANTHROPIC_MODEL, NEW_MODEL, random_id, text_body
from guardgate.simulate.clients import ClientBuild, ClientKind, random_build
from guardgate.simulate.config import DAY, HOUR
from guardgate.simulate.network import cloud_ip, office_ip
from guardgate.simulate.sessions import chat_session, geometric_turns, office_chats
from guardgate.simulate.text import question
from guardgate.simulate.timing import (
    PERSONAL_HOURS,
    WORK_HOURS,
    WorkerPool,
    daily_times,
    local_days,
    poisson,
    random_timezone,
)
from guardgate.simulate.workloads import (
    BENCHMARKS,
    CHAT_APP_SYSTEMS,
    CORPORATE_SYSTEMS,
    SAAS_TEMPLATES,
    backend_text,
    benchmark_items,
    product_system,
)
from guardgate.simulate.world import World


def chat_app(world: World) -> None:
    """Consumer apps relaying their end users' chats through one key from a few servers."""
    rng = world.rng("chat_app")
    cfg = world.config
    # (sessions per day at scale 1, tz of the market, client, model, sends `user`)
    apps = [
        (
            rng.uniform(120, 450),
            rng.choice((-8.0, -5.0, 0.0, 1.0, 5.5, 8.0, 9.0)),
            rng.choice((ClientKind.OPENAI_NODE, ClientKind.OPENAI_PY, ClientKind.AXIOS)),
            rng.choice(("gpt-4.1-mini", "gpt-4o")),
            rng.random() < 0.5,
        )
        for _ in range(rng.randint(1, 3))
    ]
    world.note("chat_app", members=len(apps), sessions=tuple(round(a[0]) for a in apps))
    for a, (sessions, tz, kind, model, sends_user) in enumerate(apps):
        build = random_build(rng, kind, server=True)
        account = world.user(rng, "chat_app", f"app-{a}", build)
        servers = [cloud_ip(rng) for _ in range(rng.randint(2, 4))]
        system = product_system(rng) if rng.random() < 0.7 else rng.choice(CHAT_APP_SYSTEMS)
        temperature = rng.choice((0.3, 0.5, 0.7, 1.0))
        cap = rng.choice((400, 800, 1200, 2000))
        for ts in daily_times(rng, cfg.start, cfg.end, tz, sessions * cfg.scale, PERSONAL_HOURS):
            params: dict[str, object] = {"temperature": temperature, "max_tokens": cap}
            if sends_user:
                params["user"] = random_id(rng, "u_", 16)
            chat_session(
                world,
                rng,
                account,
                ApiKind.OPENAI_CHAT,
                model,
                ts,
                geometric_turns(rng, 2.5, 14),
                _round_robin(rng, servers),
                question(rng, step_by_step=0.04),
                system=system,
                params=params,
                stream=True,
                think_median=35.0,
            )


def _round_robin(rng: random.Random, servers: list[str]) -> Callable[[], str]:
    """A load balancer spreading requests over an app's servers."""
    return lambda: rng.choice(servers)


_SAAS_CLIENTS = (
    ClientKind.OPENAI_PY,
    ClientKind.REQUESTS,
    ClientKind.AIOHTTP,
    ClientKind.ANTHROPIC_PY,
    ClientKind.AXIOS,
    ClientKind.OPENAI_NODE,
)


def saas_template(world: World) -> None:
    """Back ends that run one template over their day's data every night, from cloud hosts."""
    rng = world.rng("saas_template")
    members, volume = world.members("saas_template", rng, 4, 8)
    offset = rng.randrange(len(SAAS_TEMPLATES))
    for b in range(members):
        _saas_backend(world, rng, b + offset, volume)


def _saas_backend(world: World, rng: random.Random, b: int, volume: float) -> None:
    cfg = world.config
    kind = _SAAS_CLIENTS[b % len(_SAAS_CLIENTS)]
    anthropic = kind is ClientKind.ANTHROPIC_PY or (kind is ClientKind.AXIOS and b % 2 == 0)
    api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
    build = random_build(rng, kind, server=True)
    account = world.user(rng, "saas_template", f"saas-{b}", build, anthropic=anthropic)
    system, template = SAAS_TEMPLATES[b % len(SAAS_TEMPLATES)]
    model = ANTHROPIC_MODEL if anthropic else rng.choice(("gpt-4.1-mini", "gpt-4o"))
    params: dict[str, object] = {
        "temperature": rng.choice((0, 0.2, 0.3)),
        "max_tokens": rng.choice((200, 300, 500, 1000)),
    }
    hosts = [cloud_ip(rng) for _ in range(rng.randint(1, 3))]
    tz = rng.choice((-8.0, -5.0, 0.0, 1.0, 9.0))
    cron_hour = rng.uniform(0.5, 4.0)
    nightly = rng.randint(80, 400) * volume
    workers = rng.randint(2, 8)

    def send(ts: float) -> None:
        body = text_body(api, model, (), template.format(text=backend_text(rng)), system=system)
        body.update(params)
        world.emitter.emit(rng, ts, rng.choice(hosts), account, api, body)

    for midnight, weekend in local_days(cfg.start, cfg.end, tz):
        ts = midnight + cron_hour * HOUR + rng.uniform(0, 90)
        for _ in range(poisson(rng, nightly * (0.45 if weekend else 1.0))):
            send(ts)
            ts += rng.uniform(1.5, 7.0) / workers
    # A trickle of on-demand calls during the day (a user clicks "summarise").
    for ts in daily_times(rng, cfg.start, cfg.end, tz, 25 * volume, WORK_HOURS, 0.3):
        send(ts)


def corporate_nat(world: World) -> None:
    """Employees behind their office NAT using an internal tool built on one pinned SDK."""
    rng = world.rng("corporate_nat")
    cfg = world.config
    offices = []
    for per_key in (1, rng.randint(5, 20)):
        anthropic = rng.random() < 0.5
        drawn = random_build(rng, ClientKind.ANTHROPIC_PY if anthropic else ClientKind.OPENAI_PY)
        # (employees at scale 1, employees per key, tz, build, api)
        offices.append(
            (
                rng.randint(80, 300),
                per_key,
                random_timezone(rng),
                drawn,
                ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT,
            )
        )
    world.note("corporate_nat", sizes=tuple(o[0] for o in offices))
    for o, (employees, per_key, tz, build, api) in enumerate(offices):
        nat = [office_ip(rng) for _ in range(rng.randint(1, 3))]
        system = CORPORATE_SYSTEMS[o] if rng.random() < 0.3 else product_system(rng)
        model = ANTHROPIC_MODEL if api.is_anthropic else "gpt-4o"
        accounts = []
        for e in range(cfg.count(employees)):
            if e % per_key == 0:
                accounts.append(
                    world.user(
                        rng, "corporate_nat", f"corp-{o}-emp-{e}", build, anthropic=api.is_anthropic
                    )
                )
            account = accounts[-1]
            per_day = 1.6 * rng.lognormvariate(0, 0.7)
            params: dict[str, object] | None = {"max_tokens": 2048} if api.is_anthropic else None
            office_chats(world, rng, account, api, model, tz, per_day, nat, system, params)


_FULL_SIZES = {"mmlu-lite": 300, "gsm-lite": 250, "code-lite": 164}


def eval_runner(world: World) -> None:
    """Benchmark harnesses: fixed prompts, temperature 0, fixed max_tokens, in bursts.

    Evaluators run their suites on a new model within hours of its release, so on release day
    they look much like a farm pivoting to it.
    """
    rng = world.rng("eval_runner")
    cfg = world.config
    fraction = min(1.0, cfg.scale)
    sizes = {b: rng.randint(n // 2, n) for b, n in _FULL_SIZES.items()}
    suites = {b: benchmark_items(cfg.seed, b, sizes[b]) for b in BENCHMARKS}
    runners = cfg.count(rng.uniform(2, 5), minimum=2)
    world.note("eval_runner", members=runners, suites=tuple(len(s) for s in suites.values()))
    for r in range(runners):
        build = random_build(rng, ClientKind.OPENAI_PY, server=True)
        build = ClientBuild(build.kind, build.version, "Linux", "x64", build.runtime_version, True)
        account = world.user(rng, "eval_runner", f"evals-{r}", build)
        ip = cloud_ip(rng) if r % 2 == 0 else office_ip(rng)
        concurrency = rng.choice((8, 16, 32, 64))
        max_tokens = rng.choice((1024, 2048))
        runs: list[tuple[float, str, str]] = []
        if r == 0:  # nightly CI on weekdays
            for midnight, weekend in local_days(cfg.start, cfg.end, 0.0):
                if not weekend:
                    runs.append(
                        (midnight + 2 * HOUR + rng.uniform(0, 300), "gpt-4.1-mini", "gsm-lite")
                    )
        for _ in range(rng.randint(1, 3)):
            ts = cfg.start + rng.uniform(0, cfg.days) * DAY
            runs.append(
                (ts, rng.choice(("gpt-4o", "o3-mini", "deepseek-r1")), rng.choice(BENCHMARKS))
            )
        if r > 0 or cfg.scale < 0.5:
            launch = cfg.release + rng.uniform(1.5, 8.0) * HOUR
            for b in BENCHMARKS:
                runs.append((launch, NEW_MODEL, b))
                launch += rng.uniform(0.3, 1.5) * HOUR
        for start, model, bench in runs:
            items = suites[bench][: max(5, round(len(suites[bench]) * fraction))]
            n_samples = 5 if bench == "code-lite" and rng.random() < 0.5 else 1
            params: dict[str, object] = {
                "temperature": 0.8 if n_samples > 1 else 0,
                "max_tokens": max_tokens,
            }
            if model == "o3-mini":  # o-series models reject temperature and max_tokens
                params = {"max_completion_tokens": max_tokens * 4}
            if n_samples > 1:
                params["n"] = n_samples
            pool = WorkerPool(rng, start, concurrency)
            for item in items:
                body = text_body(ApiKind.OPENAI_CHAT, model, (), item, params=params)
                world.emitter.emit(rng, pool.take(), ip, account, ApiKind.OPENAI_CHAT, body)
                pool.busy_for(rng.uniform(2.0, 25.0))
