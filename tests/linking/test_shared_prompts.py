"""Public prompts: this week's popular questions, a benchmark's items and a class's homework are
sent word for word by many honest accounts, so their wording says nothing about who sent them. A
farm sends each of its prompts once, from one account, and still links by its own wording;
copying someone else's prompt buys it nothing, and a refused key cannot make a farm's prompts
public."""

from __future__ import annotations

import random

from guardgate.linking import Linker, LinkingConfig
from guardgate.model import ApiKind, Observation
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.store import MemoryStore

from .traffic import WORDS

START = 1_800_000_000.0
BUILD = "OpenAI/Python 1.82.0"
# A rare build shared by the two harnesses: with like content, two kinds of evidence.
TEMPLATE = (
    "Work through the following problem for our dataset. {task} Show every step of your "
    "reasoning, then give the final answer on its own line prefixed with ANSWER:"
)


def _items(seed: int, count: int) -> list[str]:
    """A farm's prompts: its own template around new tasks."""
    rng = random.Random(seed)
    return [TEMPLATE.format(task=_question(rng)) for _ in range(count)]


def _questions(seed: int, count: int) -> list[str]:
    """Public prompts: popular questions, each its own wording."""
    rng = random.Random(seed)
    return [_question(rng, 24) for _ in range(count)]


def _question(rng: random.Random, words: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _observe(observer: Observer, key: str, ip: str, prompt: str, ts: float) -> Observation:
    headers = [
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"user-agent", BUILD.encode()),
    ]
    body = {"model": "m-1", "messages": [{"role": "user", "content": prompt}], "max_tokens": 2048}
    return observer.observe(ApiKind.OPENAI_CHAT, headers, ip, body, ts)


async def _linked(traffic: list[tuple[str, str, str]]) -> tuple[Linker, bool]:
    """Feed (key, ip, prompt) in order; whether keys 'a' and 'b' end in one cluster."""
    config = LinkingConfig()
    linker = Linker(MemoryStore(config.limits), config)
    observer = Observer(GuardgateSettings(secret="shared-prompts"))
    accounts: dict[str, str] = {}
    ts = START
    for key, ip, prompt in traffic:
        ts += 7.0
        obs = _observe(observer, key, ip, prompt, ts)
        accounts[key] = obs.account
        await linker.observe(obs)
    await linker.recluster(ts)
    clusters = await linker.store.clusters()
    a, b = clusters.get(accounts["a"]), clusters.get(accounts["b"])
    return linker, a is not None and a == b


async def test_two_accounts_asking_the_same_popular_questions_are_not_linked() -> None:
    suite = _questions(1, 40)
    first = [("a", "34.1.2.3", item) for item in suite]
    second = [("b", "198.51.100.7", item) for item in suite]
    _, linked = await _linked(first + second)
    assert not linked
    # Interleaved, both asking each question as it becomes popular: the same.
    _, linked = await _linked([x for pair in zip(first, second, strict=True) for x in pair])
    assert not linked


async def test_a_farm_sending_its_own_prompts_from_two_accounts_is_linked() -> None:
    # The control: the same wording and build, each prompt sent once, by one account.
    prompts = _items(2, 80)
    traffic = [("a" if i % 2 else "b", f"198.51.{i}.7", p) for i, p in enumerate(prompts)]
    _, linked = await _linked(traffic)
    assert linked


async def test_copying_a_public_suite_alongside_does_not_hide_a_farm() -> None:
    # The farm's own prompts link it; the public items it also sends change nothing.
    public, own = _questions(3, 30), _items(4, 80)
    traffic = [("x", "34.9.9.9", item) for item in public]
    traffic += [("a" if i % 2 else "b", f"198.51.{i}.7", p) for i, p in enumerate(own)]
    traffic += [("a", "198.51.200.7", item) for item in public]
    _, linked = await _linked(traffic)
    assert linked


async def test_a_refused_key_sending_first_does_not_make_a_farms_prompts_public() -> None:
    config = LinkingConfig()
    linker = Linker(MemoryStore(config.limits), config)
    observer = Observer(GuardgateSettings(secret="shared-prompts"))
    ts = START
    accounts = {}
    for i, prompt in enumerate(_items(5, 80)):
        ts += 7.0
        burner = _observe(observer, f"burner-{i}", "203.0.113.5", prompt, ts)
        await linker.observe(burner)
        linker.forget(burner.account)  # the upstream refused its key: the gate forgets it
        key = "a" if i % 2 else "b"
        obs = _observe(observer, key, f"198.51.{i}.7", prompt, ts + 1.0)
        accounts[key] = obs.account
        await linker.observe(obs)
    await linker.recluster(ts + 2.0)
    clusters = await linker.store.clusters()
    assert clusters.get(accounts["a"]) is not None
    assert clusters.get(accounts["a"]) == clusters.get(accounts["b"])
