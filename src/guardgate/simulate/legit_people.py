"""Legitimate individuals: casual users, heavy users and university classes."""

from __future__ import annotations

import random

from guardgate.model import ApiKind
from guardgate.simulate.bodies import sampling_params, text_body
from guardgate.simulate.clients import ClientBuild, ClientKind, random_build
from guardgate.simulate.config import DAY, HOUR
from guardgate.simulate.emitter import Account
from guardgate.simulate.network import campus_ip, campus_prefix, office_ip, residential_ip
from guardgate.simulate.sessions import (
    chat_session,
    favourite_model,
    geometric_turns,
    model_at,
)
from guardgate.simulate.text import question
from guardgate.simulate.timing import (
    PERSONAL_HOURS,
    WORK_HOURS,
    daily_times,
    local_days,
    random_timezone,
    think_time,
)
from guardgate.simulate.workloads import HOMEWORK, STUDENT_FOLLOWUPS, STUDENT_WRAPPERS
from guardgate.simulate.world import World

_CASUAL_CLIENTS = (
    (ClientKind.OPENAI_PY, 0.34),
    (ClientKind.OPENAI_NODE, 0.14),
    (ClientKind.OPENAI_BROWSER, 0.08),
    (ClientKind.ANTHROPIC_PY, 0.12),
    (ClientKind.ANTHROPIC_NODE, 0.05),
    (ClientKind.CURL, 0.08),
    (ClientKind.REQUESTS, 0.12),
    (ClientKind.AXIOS, 0.04),
    (ClientKind.AIOHTTP, 0.03),
)
_ANTHROPIC_KINDS = frozenset({ClientKind.ANTHROPIC_PY, ClientKind.ANTHROPIC_NODE})


def _client(rng: random.Random) -> tuple[ClientBuild, ApiKind]:
    kinds, weights = zip(*_CASUAL_CLIENTS, strict=True)
    kind = rng.choices(kinds, weights)[0]
    build = random_build(rng, kind)
    if kind in _ANTHROPIC_KINDS or (
        kind in (ClientKind.CURL, ClientKind.REQUESTS) and rng.random() < 0.3
    ):
        return build, ApiKind.ANTHROPIC_MESSAGES
    sdk = kind in (ClientKind.OPENAI_PY, ClientKind.OPENAI_NODE)
    if sdk and rng.random() < 0.18:
        return build, ApiKind.OPENAI_RESPONSES
    return build, ApiKind.OPENAI_CHAT


def casual(world: World) -> None:
    """Many people with a few chats a day, from home, from phones behind carrier NAT."""
    rng = world.rng("casual")
    cfg = world.config
    base = rng.uniform(1500, 2500)
    n = cfg.count(base)
    world.note("casual", members=n, base=round(base, 3))
    for i in range(n):
        build, api = _client(rng)
        account = world.user(rng, "casual", f"user-{i}", build, anthropic=api.is_anthropic)
        tz = random_timezone(rng)
        home = residential_ip(rng)
        mobile_share = rng.choice((0.0, 0.0, 0.1, 0.3, 0.6, 0.9))
        carrier = world.carriers.carrier_for(rng)
        favourite = favourite_model(rng, api)
        adoption = 0.5 if rng.random() < 0.06 else 0.0
        stream = rng.random() < 0.4
        per_day = 0.75 * rng.lognormvariate(-0.32, 0.8)
        flavours = rng.sample(("general", "writing", "coding", "work", "study"), rng.randint(1, 3))
        for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day, PERSONAL_HOURS, 1.25):
            if rng.random() < 0.02:
                home = residential_ip(rng)  # the ISP hands out a new lease now and then
            on_mobile = rng.random() < mobile_share
            ip = world.carriers.egress(rng, carrier) if on_mobile else home
            model = model_at(rng, world, ts, favourite, adoption, delay=rng.uniform(2, 48) * HOUR)
            chat_session(
                world,
                rng,
                account,
                api,
                model,
                ts,
                geometric_turns(rng, 2.4, 12),
                ip,
                question(rng, flavours, step_by_step=0.03),
                params=sampling_params(rng, api, model),
                stream=stream,
            )


def heavy_user(world: World) -> None:
    """Individuals sending hundreds of requests a day: chats plus their own scripted batches."""
    rng = world.rng("heavy_user")
    cfg = world.config
    members, volume = world.members("heavy_user", rng, 20, 40)
    low = rng.uniform(20, 60)
    high = low + rng.uniform(40, 120)
    world.note("heavy_user", per_day=(low, high))
    for i in range(members):
        kind = rng.choice((ClientKind.OPENAI_PY, ClientKind.OPENAI_PY, ClientKind.ANTHROPIC_PY))
        build = random_build(rng, kind)
        api = ApiKind.ANTHROPIC_MESSAGES if kind is ClientKind.ANTHROPIC_PY else ApiKind.OPENAI_CHAT
        account = world.user(rng, "heavy_user", f"power-{i}", build, anthropic=api.is_anthropic)
        tz = random_timezone(rng)
        ips = [residential_ip(rng), office_ip(rng)]
        favourite = favourite_model(rng, api)
        adoption = rng.choice((0.0, 0.0, 0.3, 0.7))
        per_day = rng.uniform(low, high) * volume
        hours = [max(a, b) for a, b in zip(WORK_HOURS, PERSONAL_HOURS, strict=True)]
        # A unit is a chat (about 3 requests) or a scripted batch (about 25).
        units = daily_times(rng, cfg.start, cfg.end, tz, per_day / 6.5, hours, 0.35, 0.35)
        batch_template = question(rng, ("work", "writing")) + "\n\nText:\n{text}"
        for ts in units:
            weekday_hour = ((ts + tz * HOUR) % DAY) / HOUR
            ip = ips[1] if 8.5 <= weekday_hour <= 18 and rng.random() < 0.8 else ips[0]
            model = model_at(rng, world, ts, favourite, adoption, delay=rng.uniform(0.5, 12) * HOUR)
            if rng.random() < 0.15:
                _batch(world, rng, account, api, model, ts, ip, batch_template)
                continue
            chat_session(
                world,
                rng,
                account,
                api,
                model,
                ts,
                geometric_turns(rng, 3.0, 15),
                ip,
                question(rng, step_by_step=0.12),
                params=sampling_params(rng, api, model),
                stream=rng.random() < 0.5,
                think_median=25.0,
            )


def _batch(
    world: World,
    rng: random.Random,
    account: Account,
    api: ApiKind,
    model: str,
    ts: float,
    ip: str,
    template: str,
) -> None:
    params = sampling_params(rng, api, model, max_tokens=rng.choice((300, 500, 800)))
    for _ in range(max(3, int(rng.lognormvariate(3.0, 0.6)))):
        prompt = template.format(text=question(rng))
        body = text_body(api, model, (), prompt, params=params)
        if not world.emitter.emit(rng, ts, ip, account, api, body):
            return
        ts += rng.uniform(0.8, 6.0)


def university_class(world: World) -> None:
    """Students of one course on one campus /16, the same homework the evening before it is due."""
    rng = world.rng("university_class")
    cfg = world.config
    courses = list(HOMEWORK)
    rng.shuffle(courses)
    classes = cfg.count(rng.uniform(2, 4))
    world.note("university_class", members=classes, courses=tuple(courses))
    for c in range(classes):
        course = courses[c % len(courses)]
        prefix = campus_prefix(rng)
        tz = rng.choice((-8.0, -5.0, 0.0, 1.0, 9.0))
        size = max(5, round(rng.randint(30, 200) * cfg.scale))
        # The course's requirements.txt pins the SDK: most students share one client build.
        drawn = random_build(rng, ClientKind.OPENAI_PY)
        pinned = ClientBuild(drawn.kind, drawn.version, "MacOS", "arm64", drawn.runtime_version)
        evenings = _deadline_evenings(rng, cfg.start, cfg.end, tz)
        questions = HOMEWORK[course]
        for s in range(size):
            if rng.random() < 0.6:
                os_name, arch = rng.choice((("MacOS", "arm64"), ("Windows", "x64")))
                build = ClientBuild(
                    pinned.kind, pinned.version, os_name, arch, pinned.runtime_version
                )
            else:
                build = random_build(
                    rng,
                    rng.choice((ClientKind.OPENAI_BROWSER, ClientKind.CURL, ClientKind.OPENAI_PY)),
                )
            account = world.user(rng, "university_class", f"class-{c}-student-{s}", build)
            dorm = campus_ip(rng, prefix)
            carrier = world.carriers.carrier_for(rng)
            model = rng.choices(("gpt-4.1-mini", "o3-mini", "gpt-4o"), (0.7, 0.2, 0.1))[0]
            for evening in evenings:
                if rng.random() < 0.25:
                    continue  # did it alone, or not at all
                ts = evening + rng.uniform(18.0, 25.5) * HOUR
                todo = rng.sample(questions, rng.randint(2, min(6, len(questions))))
                for q in todo:
                    where = rng.random()
                    if where < 0.65:
                        ip = dorm
                    elif where < 0.8:
                        ip = campus_ip(rng, prefix)
                    elif where < 0.9:
                        ip = world.carriers.egress(rng, carrier)
                    else:
                        ip = residential_ip(rng)
                    first = rng.choice(STUDENT_WRAPPERS).format(q=q)
                    ts = chat_session(
                        world,
                        rng,
                        account,
                        ApiKind.OPENAI_CHAT,
                        model,
                        ts,
                        geometric_turns(rng, 2.2, 8),
                        ip,
                        first,
                        next_turn=lambda r: r.choice(STUDENT_FOLLOWUPS),
                        think_median=60.0,
                    )
                    ts += think_time(rng, 300.0, 0.7)


def _deadline_evenings(rng: random.Random, start: float, end: float, tz: float) -> list[float]:
    """Local midnights of the evenings before homework deadlines (about two a week)."""
    days = [(m, w) for m, w in local_days(start, end, tz) if m + 19 * HOUR < end]
    weekdays = [m for m, weekend in days if not weekend]
    picked = [m for m in weekdays if rng.random() < 0.4]
    if not picked and days:
        picked = [(weekdays or [m for m, _ in days])[-1]]
    return picked
