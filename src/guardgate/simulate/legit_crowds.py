"""Legitimate populations that look like farms on one axis or another: crowds sharing software,
networks or wording, single keys serving many people, bulk generation, long outputs, launch-day
evaluations. Every parameter is drawn per seed."""

from __future__ import annotations

import random

from guardgate.model import ApiKind
from guardgate.simulate.adapt import popular_build
from guardgate.simulate.bodies import (
    ANTHROPIC_MODEL,
    NEW_MODEL,
    sampling_params,
    text_body,
)
from guardgate.simulate.clients import ClientBuild, ClientKind, random_build
from guardgate.simulate.config import HOUR
from guardgate.simulate.network import campus_ip, campus_prefix, cloud_ip, office_ip, residential_ip
from guardgate.simulate.sessions import chat_session, geometric_turns, model_at, office_chats
from guardgate.simulate.snippets import math_problem
from guardgate.simulate.text import VOCAB, question
from guardgate.simulate.timing import (
    FLAT_HOURS,
    PERSONAL_HOURS,
    WORK_HOURS,
    WorkerPool,
    daily_times,
    local_days,
    random_timezone,
    think_time,
)
from guardgate.simulate.workloads import (
    BENCHMARKS,
    HOMEWORK,
    STUDENT_FOLLOWUPS,
    STUDENT_WRAPPERS,
    benchmark_items,
    product_system,
)
from guardgate.simulate.world import World

_REASONING_ASKS = (
    "Think it through step by step.",
    "Show your reasoning.",
    "",
    "",
    "Explain your reasoning carefully.",
    "Please be rigorous.",
)


def _popular_questions(rng: random.Random, count: int) -> list[str]:
    """Questions many people ask this week (a puzzle that went viral, a famous problem)."""
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            out.append(math_problem(rng)[0])
        else:
            out.append(question(rng, ("coding", "study", "general")))
    return out


def reasoning_power(world: World) -> None:
    """Power users of reasoning models: long thinking, long answers, many a day, some scripts
    overnight, on the most popular SDK build, often asking this week's popular questions."""
    rng = world.rng("reasoning_power")
    cfg = world.config
    members, volume = world.members("reasoning_power", rng, 40, 80)
    popular = _popular_questions(rng, rng.randint(20, 60))
    popular_share = rng.uniform(0.1, 0.35)
    world.note("reasoning_power", popular=len(popular), popular_share=popular_share)
    for i in range(members):
        anthropic = rng.random() < 0.35
        kind = ClientKind.ANTHROPIC_PY if anthropic else ClientKind.OPENAI_PY
        build = popular_build(rng, kind) if rng.random() < 0.7 else random_build(rng, kind)
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        account = world.user(rng, "reasoning_power", f"reasoner-{i}", build, anthropic=anthropic)
        tz = random_timezone(rng)
        ips = [residential_ip(rng), office_ip(rng)]
        favourite = ANTHROPIC_MODEL if anthropic else rng.choice(("o3-mini", "deepseek-r1"))
        adoption = rng.choice((0.3, 0.6, 0.9))
        per_day = rng.uniform(8, 40) * volume
        night_owl = rng.random() < 0.3
        hours = FLAT_HOURS if night_owl else PERSONAL_HOURS
        stream = rng.random() < 0.5
        cap = rng.choice((4000, 8000, 16000, 25000, 32000))
        ask = rng.choice(_REASONING_ASKS)
        for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day / 2.5, hours, 0.8):
            model = model_at(rng, world, ts, favourite, adoption, delay=rng.uniform(0.2, 6) * HOUR)
            if anthropic:
                params: dict[str, object] = {
                    "max_tokens": cap,
                    "thinking": {"type": "enabled", "budget_tokens": max(1024, cap * 2 // 3)},
                }
            elif model in ("o3-mini", NEW_MODEL):
                params = {
                    "max_completion_tokens": cap,
                    "reasoning_effort": rng.choice(("medium", "high", "high")),
                }
            else:
                params = sampling_params(rng, api, model, max_tokens=cap)
            first = rng.choice(popular) if rng.random() < popular_share else question(rng)
            if ask:
                first = f"{first} {ask}"
            chat_session(
                world,
                rng,
                account,
                api,
                model,
                ts,
                geometric_turns(rng, 2.5, 12),
                rng.choice(ips),
                first,
                params=params,
                stream=stream,
                think_median=60.0,
            )


def campus_classes(world: World) -> None:
    """Several classes on one campus: one NAT, one study app (same build, same system prompt),
    the same homework pasted by everyone, the evening before it is due."""
    rng = world.rng("campus_classes")
    cfg = world.config
    prefix = campus_prefix(rng)
    nat = [campus_ip(rng, prefix) for _ in range(rng.randint(1, 4))]
    app_build = random_build(rng, ClientKind.OPENAI_BROWSER)
    app_system = product_system(rng)
    app_share = rng.uniform(0.5, 0.9)
    tz = rng.choice((-8.0, -5.0, 0.0, 1.0, 8.0))
    courses = rng.sample(list(HOMEWORK), rng.randint(2, 4))
    world.note("campus_classes", courses=tuple(courses), nat=len(nat), app_share=app_share)
    for c, course in enumerate(courses):
        size = max(5, round(rng.randint(30, 150) * cfg.scale))
        evenings = _evenings(rng, cfg.start, cfg.end, tz)
        questions = HOMEWORK[course]
        wrapper = rng.choice(STUDENT_WRAPPERS)  # the class's shared prompt from the course page
        model = rng.choice(("gpt-4.1-mini", "o3-mini", "gpt-4o"))
        for s in range(size):
            in_app = rng.random() < app_share
            build = app_build if in_app else random_build(rng, ClientKind.OPENAI_PY)
            account = world.user(rng, "campus_classes", f"campus-{c}-student-{s}", build)
            for evening in evenings:
                if rng.random() < 0.3:
                    continue
                ts = evening + rng.uniform(18.0, 25.5) * HOUR
                for q in rng.sample(questions, rng.randint(2, min(6, len(questions)))):
                    first = wrapper.format(q=q) if rng.random() < 0.7 else q
                    ts = chat_session(
                        world,
                        rng,
                        account,
                        ApiKind.OPENAI_CHAT,
                        model,
                        ts,
                        geometric_turns(rng, 2.0, 8),
                        rng.choice(nat),
                        first,
                        system=app_system if in_app else None,
                        stream=in_app,
                        next_turn=lambda r: r.choice(STUDENT_FOLLOWUPS),
                        think_median=60.0,
                    )
                    ts += think_time(rng, 240.0, 0.7)


def _evenings(rng: random.Random, start: float, end: float, tz: float) -> list[float]:
    days = [m for m, weekend in local_days(start, end, tz) if not weekend and m + 19 * HOUR < end]
    picked = [m for m in days if rng.random() < 0.45]
    return picked or days[-1:]


def office_tool(world: World) -> None:
    """One key per employee, everyone behind one office NAT, using one internal tool (one pinned
    build, one system prompt) during working hours."""
    rng = world.rng("office_tool")
    anthropic = rng.random() < 0.4
    kind = (
        ClientKind.ANTHROPIC_PY
        if anthropic
        else rng.choice((ClientKind.OPENAI_PY, ClientKind.OPENAI_NODE))
    )
    build = random_build(rng, kind)
    api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
    nat = [office_ip(rng) for _ in range(rng.randint(1, 2))]
    system = product_system(rng)
    tz = random_timezone(rng)
    model = ANTHROPIC_MODEL if anthropic else rng.choice(("gpt-4o", "gpt-4.1-mini", "o3-mini"))
    cap = rng.choice((1024, 2048, 4096, 8192))
    members, volume = world.members("office_tool", rng, 80, 300)
    world.note("office_tool", build=build.version, tz=tz, cap=cap)
    for e in range(members):
        account = world.user(rng, "office_tool", f"office-emp-{e}", build, anthropic=anthropic)
        per_day = rng.uniform(0.5, 4.0) * volume
        office_chats(world, rng, account, api, model, tz, per_day, nat, system, {"max_tokens": cap})


def gateway_key(world: World) -> None:
    """An enterprise gateway: one key serving thousands of employees worldwide, from a few cloud
    hosts, every model and setting the employees' tools use, round the clock."""
    rng = world.rng("gateway_key")
    cfg = world.config
    gateways = rng.randint(1, 2)
    rates: list[float] = []
    world.note("gateway_key", gateways=gateways, sessions=rates)
    for g in range(gateways):
        build = random_build(
            rng, rng.choice((ClientKind.OPENAI_PY, ClientKind.AIOHTTP)), server=True
        )
        account = world.user(rng, "gateway_key", f"gateway-{g}", build)
        hosts = [cloud_ip(rng) for _ in range(rng.randint(2, 5))]
        offices = rng.sample((-8.0, -5.0, 0.0, 1.0, 5.5, 8.0, 9.0), rng.randint(2, 4))
        sessions = rng.uniform(150, 450) * cfg.scale
        rates.append(round(sessions, 3))
        tools = [product_system(rng) for _ in range(rng.randint(2, 5))]
        for tz in offices:
            for ts in daily_times(
                rng, cfg.start, cfg.end, tz, sessions / len(offices), WORK_HOURS, 0.1
            ):
                model = rng.choice(("gpt-4o", "gpt-4.1-mini", "o3-mini", "deepseek-r1"))
                params = sampling_params(rng, ApiKind.OPENAI_CHAT, model)
                params["user"] = f"emp-{rng.randrange(5000):04d}@corp.example"
                chat_session(
                    world,
                    rng,
                    account,
                    ApiKind.OPENAI_CHAT,
                    model,
                    ts,
                    geometric_turns(rng, 2.5, 12),
                    lambda hosts=hosts: rng.choice(hosts),  # type: ignore[misc]
                    question(rng, ("work", "writing", "coding", "study"), step_by_step=0.06),
                    system=rng.choice(tools) if rng.random() < 0.7 else None,
                    params=params,
                    stream=rng.random() < 0.6,
                    think_median=45.0,
                )


_WRITING_TASKS = (
    "Translate the following chapter into {lang}, keeping the author's tone:\n\n{text}",
    "Continue this story for about 3,000 words, same voice:\n\n{text}",
    "Edit this manuscript section for flow and consistency; return the revised text:\n\n{text}",
    "Write a detailed long-form article ({words} words) on: {topic}",
    "Rewrite this report as a polished executive document:\n\n{text}",
)
_LANGS = ("French", "German", "Spanish", "Japanese", "Portuguese", "Italian", "Korean")


def writers(world: World) -> None:
    """Writers and translators: long documents in, long answers out (max_tokens 8k-32k), a few
    requests a day, often streamed into an editor."""
    rng = world.rng("writers")
    cfg = world.config
    members, volume = world.members("writers", rng, 25, 55)
    for i in range(members):
        kind = rng.choice((ClientKind.OPENAI_PY, ClientKind.ANTHROPIC_PY, ClientKind.OPENAI_NODE))
        anthropic = kind is ClientKind.ANTHROPIC_PY
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        account = world.user(
            rng, "writers", f"writer-{i}", random_build(rng, kind), anthropic=anthropic
        )
        tz = random_timezone(rng)
        ip = residential_ip(rng)
        cap = rng.choice((8000, 8192, 12000, 16000, 16384, 32000))
        model = ANTHROPIC_MODEL if anthropic else rng.choice(("gpt-4o", "gpt-4.1-mini"))
        stream = rng.random() < 0.6
        per_day = rng.uniform(1.5, 8.0) * volume
        lang = rng.choice(_LANGS)
        for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day, PERSONAL_HOURS, 0.9):
            text = "\n\n".join(
                question(rng, ("writing", "general")) for _ in range(rng.randint(4, 14))
            )
            prompt = rng.choice(_WRITING_TASKS).format(
                lang=lang,
                text=text,
                words=rng.choice((2000, 3000, 5000)),
                topic=question(rng, ("writing", "general")),
            )
            chat_session(
                world,
                rng,
                account,
                api,
                model,
                ts,
                geometric_turns(rng, 1.8, 6),
                ip,
                prompt,
                params={"max_tokens": cap, "temperature": rng.choice((0.7, 0.8, 1.0))},
                stream=stream,
                think_median=300.0,
            )


_SYNTH_TEMPLATES = (
    "Write a {level} {subject} exercise about {topic}, then a worked solution with every step, "
    "then the final answer. Return JSON with keys question, solution, answer.",
    "Generate a realistic customer-support dialogue ({turns} turns) about {topic} for a {subject} "
    "product. Return JSON.",
    "Create {k} diverse question-answer pairs about {topic} at {level} level, in {subject}.",
    "Write a {level} Python exercise on {topic} with a reference solution and unit tests.",
)


def synthetic_data(world: World) -> None:
    """Customers generating synthetic data in bulk, openly, in their own account: one template
    swept over a task space at temperature ~1, from their cloud workers, on a schedule."""
    rng = world.rng("synthetic_data")
    cfg = world.config
    customers = rng.randint(2, 4)
    rates: list[float] = []
    world.note("synthetic_data", customers=customers, per_day=rates)
    for c in range(customers):
        build = random_build(
            rng, rng.choice((ClientKind.OPENAI_PY, ClientKind.ANTHROPIC_PY)), server=True
        )
        anthropic = build.kind is ClientKind.ANTHROPIC_PY
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        account = world.user(rng, "synthetic_data", f"synth-{c}", build, anthropic=anthropic)
        workers = [cloud_ip(rng) for _ in range(rng.randint(1, 3))]
        template = rng.choice(_SYNTH_TEMPLATES)
        model = ANTHROPIC_MODEL if anthropic else rng.choice(("gpt-4o", "gpt-4.1-mini", "o3-mini"))
        cap = rng.choice((1024, 2048, 4096))
        params: dict[str, object] = {"max_tokens": cap, "temperature": rng.choice((0.9, 1.0, 1.1))}
        if model == "o3-mini":
            params = {"max_completion_tokens": cap * 2, "reasoning_effort": "low"}
        tz = random_timezone(rng)
        per_day = rng.uniform(150, 600) * cfg.scale
        rates.append(round(per_day, 3))
        concurrency = rng.choice((4, 8, 16))
        for midnight, weekend in local_days(cfg.start, cfg.end, tz):
            if weekend and rng.random() < 0.7:
                continue
            ts = midnight + rng.uniform(9, 17) * HOUR
            pool = WorkerPool(rng, ts, concurrency)
            for _ in range(int(per_day * rng.uniform(0.6, 1.4))):
                at = pool.take()
                prompt = template.format(
                    level=rng.choice(("beginner", "intermediate", "advanced")),
                    subject=rng.choice(VOCAB["subject"]),
                    topic=rng.choice(VOCAB["task"]),
                    turns=rng.randint(4, 10),
                    k=rng.randint(3, 10),
                )
                body = text_body(api, model, (), prompt, params=params)
                world.emitter.emit(rng, at, rng.choice(workers), account, api, body)
                pool.busy_for(rng.uniform(3.0, 30.0))


def eval_launch(world: World) -> None:
    """Evaluation teams running public benchmark suites on `frontier-2` within hours of its
    release: the same public items across teams, reasoning at high effort, several samples."""
    rng = world.rng("eval_launch")
    cfg = world.config
    teams = cfg.count(rng.uniform(3, 7), minimum=2)
    sizes = {b: rng.randint(80, 300) for b in BENCHMARKS}
    # Public benchmarks: every team sends the same items (seeded by the seed, not the team).
    suites = {b: benchmark_items(cfg.seed, b, sizes[b]) for b in BENCHMARKS}
    world.note("eval_launch", members=teams, sizes=tuple(sizes.values()))
    for t in range(teams):
        build = random_build(rng, ClientKind.OPENAI_PY, server=rng.random() < 0.5)
        account = world.user(rng, "eval_launch", f"evalteam-{t}", build)
        ip = cloud_ip(rng) if rng.random() < 0.6 else office_ip(rng)
        concurrency = rng.choice((4, 8, 16, 32))
        start = cfg.release + rng.uniform(0.5, 30.0) * HOUR
        samples = rng.choice((1, 1, 3, 5))
        cap = rng.choice((8000, 16000, 32000))
        for bench in rng.sample(BENCHMARKS, rng.randint(1, 3)):
            pool = WorkerPool(rng, start, concurrency)
            for item in suites[bench]:
                for _ in range(samples):
                    at = pool.take()
                    params: dict[str, object] = {
                        "max_completion_tokens": cap,
                        "reasoning_effort": "high",
                    }
                    body = text_body(ApiKind.OPENAI_CHAT, NEW_MODEL, (), item, params=params)
                    world.emitter.emit(rng, at, ip, account, ApiKind.OPENAI_CHAT, body)
                    pool.busy_for(rng.uniform(8.0, 60.0))
            start = pool.finished() + rng.uniform(0.2, 3.0) * HOUR


def carrier_crowd(world: World) -> None:
    """Users of a bring-your-own-key mobile app: each their own key, all the app's build and
    system prompt, all behind a few mobile carriers' NAT addresses."""
    rng = world.rng("carrier_crowd")
    cfg = world.config
    app = ClientBuild(
        ClientKind.OPENAI_NODE, rng.choice(("4.104.0", "5.12.2", "6.3.0")), "Linux", "arm64",
        rng.choice(("v20.18.0", "v22.14.0")),
    )  # fmt: skip
    system = product_system(rng)
    carrier = world.carriers.carrier_for(rng)
    members, volume = world.members("carrier_crowd", rng, 150, 400)
    model = rng.choice(("gpt-4.1-mini", "gpt-4o"))
    world.note("carrier_crowd", app=app.version, carrier=carrier)
    for i in range(members):
        account = world.user(rng, "carrier_crowd", f"mobile-{i}", app)
        tz = random_timezone(rng)
        mine = carrier if rng.random() < 0.8 else world.carriers.carrier_for(rng)
        per_day = rng.uniform(0.3, 3.0) * volume
        for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day, PERSONAL_HOURS, 1.2):
            chat_session(
                world,
                rng,
                account,
                ApiKind.OPENAI_CHAT,
                model,
                ts,
                geometric_turns(rng, 2.2, 10),
                world.carriers.egress(rng, mine),
                question(rng, step_by_step=0.04),
                system=system,
                params={"temperature": 0.7},
                stream=True,
                think_median=40.0,
            )
