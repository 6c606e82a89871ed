"""Scoring cost per request: feature update + score + tier, in memory, on a simulated mix.

    python benchmarks/bench_scoring.py [--requests 200000]

Prints µs per request for the scorer alone and for the whole engine (linking + scoring), side by
side, on the same observations (built once, outside the timing).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from guardgate.engine import Engine
from guardgate.model import ApiKind, Observation
from guardgate.scoring import Scorer
from guardgate.settings import load_settings


def observations(n: int) -> list[Observation]:
    """A mix of 2,000 accounts, some farm-like, some conversational, over a week."""
    out = []
    for i in range(n):
        account = f"acct-{(i * 7919) % 2000}"
        farm = account.endswith(("3", "7"))
        out.append(
            Observation(
                ts=1_793_577_600 + i * 604800 / n,
                api=ApiKind.OPENAI_CHAT,
                account=account,
                client_ip=f"10.{i % 251}.{i % 13}.1" if farm else "90.1.2.3",
                ip_prefix=f"10.{i % 251}.{i % 13}.0/24" if farm else "90.1.2.0/24",
                model="gpt-x",
                stream=not farm,
                param_signature="p" + str(i % 3),
                system_hash="" if farm else "s",
                elicits_reasoning=farm or i % 11 == 0,
                capability="coding" if farm else "chat",
                turns=1 if farm else 1 + i % 6,
                max_tokens=16000 if farm else None,
            )
        )
    return out


async def run(n: int) -> None:
    obs = observations(n)
    scorer = Scorer()
    started = time.perf_counter()
    for o in obs:
        state = await scorer.observe(o)
        scorer.judge(o, state, o.account)
    scoring = (time.perf_counter() - started) / n * 1e6

    engine = Engine(load_settings(secret="bench-secret-0123456789"))
    await engine.start()
    started = time.perf_counter()
    for o in obs:
        await engine.observe(o)
    whole = (time.perf_counter() - started) / n * 1e6
    await engine.close()
    print(f"{n} requests, 2000 accounts, memory state")
    print(f"scoring (features + score + tier): {scoring:6.1f} µs/request")
    print(f"engine (linking + scoring):        {whole:6.1f} µs/request")
    print(f"scoring share of the engine:       {scoring / whole:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
