"""Building blocks of behaviour: a multi-turn chat session, model choice around a release."""

from __future__ import annotations

import random
from collections.abc import Callable

from guardgate.model import ApiKind
from guardgate.simulate.bodies import (
    ANTHROPIC_MODEL,
    NEW_MODEL,
    OPENAI_MODELS,
    REASONING_MODELS,
    text_body,
)
from guardgate.simulate.emitter import Account
from guardgate.simulate.text import followup, question, reply
from guardgate.simulate.timing import WORK_HOURS, daily_times, model_latency, think_time
from guardgate.simulate.world import World

OPENAI_MODEL_WEIGHTS = (0.34, 0.4, 0.16, 0.1)

Send = Callable[[random.Random, float, str, Account, ApiKind, dict[str, object]], bool]
"""Where a session's requests go: `Emitter.emit` or a campaign's queue."""


def favourite_model(rng: random.Random, api: ApiKind) -> str:
    """The model an account mostly uses."""
    if api is ApiKind.ANTHROPIC_MESSAGES:
        return ANTHROPIC_MODEL
    return rng.choices(OPENAI_MODELS, OPENAI_MODEL_WEIGHTS)[0]


def model_at(
    rng: random.Random,
    world: World,
    ts: float,
    favourite: str,
    adoption: float,
    *,
    delay: float = 0.0,
) -> str:
    """The model used at `ts`: `favourite`, or `frontier-2` with chance `adoption` once it is
    out (`delay` seconds after the release, people need a while to notice)."""
    if adoption > 0 and ts >= world.config.release + delay and rng.random() < adoption:
        return NEW_MODEL
    return favourite


def chat_session(
    world: World,
    rng: random.Random,
    account: Account,
    api: ApiKind,
    model: str,
    ts: float,
    turns: int,
    ip: str | Callable[[], str],
    first: str,
    *,
    system: str | None = None,
    params: dict[str, object] | None = None,
    stream: bool = False,
    next_turn: Callable[[random.Random], str] = followup,
    think_median: float = 45.0,
    max_history: int = 12,
    send: Send | None = None,
) -> float:
    """Send a chat of `turns` user messages whose history grows; returns when it ended.

    `ip` may be a callable for clients whose address changes between requests; `send` replaces
    the world's emitter (a farm's campaign collects its requests).
    """
    emit = send or world.emitter.emit
    history: list[tuple[str, str]] = []
    user = first
    for turn in range(turns):
        address = ip() if callable(ip) else ip
        body = text_body(
            api, model, history[-max_history:], user, system=system, params=params, stream=stream
        )
        if not emit(rng, ts, address, account, api, body):
            break
        answer_tokens = rng.randint(80, 900)
        ts += model_latency(rng, answer_tokens, model in REASONING_MODELS)
        history.append((user, reply(rng, rng.randint(2, 6))))
        if turn + 1 < turns:
            ts += think_time(rng, think_median)
            user = next_turn(rng)
    return ts


def office_chats(
    world: World,
    rng: random.Random,
    account: Account,
    api: ApiKind,
    model: str,
    tz: float,
    per_day: float,
    nat: list[str],
    system: str,
    params: dict[str, object] | None,
) -> None:
    """An employee's streamed chats with the office's internal tool (its system prompt), in
    working hours, out through one of the office's NAT addresses."""
    cfg = world.config
    for ts in daily_times(rng, cfg.start, cfg.end, tz, per_day, WORK_HOURS, 0.05):
        chat_session(
            world,
            rng,
            account,
            api,
            model,
            ts,
            geometric_turns(rng, 2.2, 10),
            rng.choice(nat),
            question(rng, ("work", "writing", "coding"), step_by_step=0.05),
            system=system,
            params=params,
            stream=True,
            think_median=50.0,
        )


def geometric_turns(rng: random.Random, mean: float, cap: int) -> int:
    """A number of turns >= 1 with the given mean (geometric), capped."""
    p = 1.0 / mean
    n = 1
    while n < cap and rng.random() > p:
        n += 1
    return n
