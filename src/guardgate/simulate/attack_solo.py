"""Script-driven extraction: synchronised chain-of-thought harvesters and lone scrapers."""

from __future__ import annotations

import random

from guardgate.model import ApiKind
from guardgate.simulate.adapt import Campaign
from guardgate.simulate.bodies import ANTHROPIC_MODEL, text_body
from guardgate.simulate.clients import (
    PYTHON_VERSIONS,
    REQUESTS_VERSIONS,
    ClientBuild,
    ClientKind,
    random_build,
)
from guardgate.simulate.config import DAY
from guardgate.simulate.farm_prompts import harvester_prompt, payload
from guardgate.simulate.network import cloud_ip
from guardgate.simulate.text import question
from guardgate.simulate.timing import model_latency, poisson_process
from guardgate.simulate.world import World


def cot_harvester(world: World) -> None:
    """Accounts that fire chain-of-thought and rubric-grading prompts in synchronised bursts.

    A controller wakes a few times a day and starts every worker within seconds; each worker
    sends its prompts one after another as answers arrive.
    """
    rng = world.rng("cot_harvester")
    cfg = world.config
    campaign = Campaign(world, "cot_harvester", rng)
    members, volume = world.members("cot_harvester", rng, 36, 60, minimum=3)
    # Hand-written scripts, one or two library versions across the fleet.
    versions = rng.sample(REQUESTS_VERSIONS, rng.randint(1, 2))
    python = rng.choice(PYTHON_VERSIONS)
    wakes = rng.uniform(2.5, 5.0)
    anthropic_share = rng.uniform(0.2, 0.6)
    cap = rng.choice((8000, 10000, 12000, 16000))
    models = rng.sample(("o3-mini", "deepseek-r1", "frontier-2"), 2)
    world.note("cot_harvester", wakes=wakes, versions=tuple(versions), cap=cap)
    workers = []
    for _ in range(members):
        anthropic = rng.random() < anthropic_share
        build = ClientBuild(ClientKind.REQUESTS, rng.choice(versions), "Linux", "x64", python)
        who = campaign.account(actor="harvest-1", build=build, anthropic=anthropic)
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        workers.append((who, api, cloud_ip(rng)))
    for burst in poisson_process(rng, cfg.start, cfg.end, wakes / DAY):
        for who, api, ip in workers:
            if rng.random() < 0.2:
                continue
            ts = burst + rng.uniform(0, 20)
            for _ in range(max(1, round(rng.randint(3, 8) * volume))):
                if api.is_anthropic:
                    model = ANTHROPIC_MODEL
                    params: dict[str, object] = {
                        "max_tokens": cap,
                        "thinking": {"type": "enabled", "budget_tokens": cap * 3 // 4},
                    }
                else:
                    model = rng.choice(models)
                    params = {"max_tokens": cap}
                body = text_body(api, model, (), harvester_prompt(rng), params=params)
                campaign.send(who, ts, ip, api, body)
                ts += model_latency(rng, rng.randint(500, 3000), True)
    campaign.finish()


def single_scraper(world: World) -> None:
    """Lone accounts scraping round the clock: max tokens, logprobs, sometimes n > 1.

    One scraper per adaptive variant, each its own operator with its own rate and build.
    """
    rng = world.rng("single_scraper")
    cfg = world.config
    campaign = Campaign(world, "single_scraper", rng)
    rates: list[float] = []
    world.note("single_scraper", members=len(campaign.variants), rates=rates)
    for _ in campaign.variants:
        build = random_build(
            rng, rng.choice((ClientKind.OPENAI_PY, ClientKind.AIOHTTP)), server=True
        )
        who = campaign.account(actor=f"scraper-{rng.randrange(10**6)}", build=build)
        ips = [cloud_ip(rng), cloud_ip(rng)]
        switch = cfg.start + rng.uniform(0.3, 0.7) * (cfg.end - cfg.start)
        ts = cfg.start + rng.uniform(0, 600)
        rate = rng.uniform(80, 200) * cfg.scale / DAY
        rates.append(round(rate * DAY, 3))
        cap = rng.choice((8192, 16384, 32000))
        weights = [rng.random() for _ in range(3)]
        while ts < cfg.end:
            # The rate wobbles as the operator restarts the job with different concurrency.
            chunk_end = ts + rng.uniform(2, 8) * 3600
            for t in poisson_process(
                rng, ts, min(chunk_end, cfg.end), rate * rng.uniform(0.6, 1.4)
            ):
                model = rng.choices(("gpt-4o", "gpt-4.1-mini", "deepseek-r1"), weights)[0]
                body = text_body(ApiKind.OPENAI_CHAT, model, (), _scrape_prompt(rng))
                body.update({"max_tokens": cap, "logprobs": True, "top_logprobs": 20})
                if rng.random() < 0.2:
                    body["n"] = rng.choice((2, 4, 8))
                    body["temperature"] = 1.0
                ip = ips[0] if t < switch else ips[1]
                campaign.send(who, t, ip, ApiKind.OPENAI_CHAT, body)
            ts = chunk_end
    campaign.finish()


def _scrape_prompt(rng: random.Random) -> str:
    if rng.random() < 0.55:
        return question(rng)
    return payload(rng)
