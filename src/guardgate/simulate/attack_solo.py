"""Script-driven extraction: synchronised chain-of-thought harvesters and a lone scraper."""

from __future__ import annotations

import random

from guardgate.model import ApiKind
from guardgate.simulate.bodies import ANTHROPIC_MODEL, text_body
from guardgate.simulate.clients import ClientBuild, ClientKind
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
    workers = []
    members, volume = cfg.sized(25, minimum=3)
    for _ in range(members):
        anthropic = rng.random() < 0.4
        # Hand-written scripts, two library versions across the fleet.
        build = ClientBuild(
            ClientKind.REQUESTS, rng.choice(("2.31.0", "2.32.3")), "Linux", "x64", "3.10.12"
        )
        account = world.emitter.account(
            rng,
            actor="harvest-1",
            population="cot_harvester",
            attack=True,
            build=build,
            anthropic=anthropic,
        )
        api = ApiKind.ANTHROPIC_MESSAGES if anthropic else ApiKind.OPENAI_CHAT
        workers.append((account, api, cloud_ip(rng)))
    for burst in poisson_process(rng, cfg.start, cfg.end, 3.5 / DAY):
        for account, api, ip in workers:
            if rng.random() < 0.2:
                continue
            ts = burst + rng.uniform(0, 20)
            for _ in range(max(1, round(rng.randint(4, 12) * volume))):
                if api.is_anthropic:
                    model = ANTHROPIC_MODEL
                    params: dict[str, object] = {
                        "max_tokens": 12000,
                        "thinking": {"type": "enabled", "budget_tokens": 10000},
                    }
                else:
                    model = rng.choice(("o3-mini", "deepseek-r1"))
                    params = {"max_tokens": 8000}
                body = text_body(api, model, (), harvester_prompt(rng), params=params)
                if not world.emitter.emit(rng, ts, ip, account, api, body):
                    break
                ts += model_latency(rng, rng.randint(500, 3000), True)


def single_scraper(world: World) -> None:
    """One account scraping round the clock: max tokens, logprobs, sometimes n > 1."""
    rng = world.rng("single_scraper")
    cfg = world.config
    build = ClientBuild(ClientKind.OPENAI_PY, "1.82.1", "Linux", "x64", "3.12.7", True)
    account = world.emitter.account(
        rng, actor="scraper-1", population="single_scraper", attack=True, build=build
    )
    ips = [cloud_ip(rng), cloud_ip(rng)]
    switch = cfg.start + rng.uniform(0.3, 0.7) * (cfg.end - cfg.start)
    # The rate wobbles as the operator restarts the job with different concurrency.
    ts = cfg.start + rng.uniform(0, 600)
    rate = 650 * cfg.scale / DAY
    while ts < cfg.end:
        chunk_end = ts + rng.uniform(2, 8) * 3600
        for t in poisson_process(rng, ts, min(chunk_end, cfg.end), rate * rng.uniform(0.6, 1.4)):
            model = rng.choices(("gpt-4o", "gpt-4.1-mini", "deepseek-r1"), (0.6, 0.25, 0.15))[0]
            text = _scrape_prompt(rng)
            body = text_body(ApiKind.OPENAI_CHAT, model, (), text)
            body.update({"max_tokens": 16384, "logprobs": True, "top_logprobs": 20})
            if rng.random() < 0.2:
                body["n"] = rng.choice((2, 4, 8))
                body["temperature"] = 1.0
            ip = ips[0] if t < switch else ips[1]
            world.emitter.emit(rng, t, ip, account, ApiKind.OPENAI_CHAT, body)
        ts = chunk_end


def _scrape_prompt(rng: random.Random) -> str:
    if rng.random() < 0.55:
        return question(rng)
    return payload(rng)
