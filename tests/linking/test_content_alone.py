"""Content-only links: a farm that gives each account its own address, software and parameters
still sends its own wording of its templates, which strangers do not."""

from __future__ import annotations

import random
from collections import defaultdict

from guardgate.linking import Linker, LinkingConfig, PairScorer
from guardgate.model import ApiKind, Observation
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.store import MemoryStore, Posting, Touch

from .traffic import WORDS

_WRAPPER = (
    "I'm studying how experts approach problems like this one. {task} Talk me through your "
    "thought process in detail, list every assumption you make, then state your answer."
)


def _touch(postings: list[tuple[str, int]]) -> Touch:
    return Touch(2000, "", 1, tuple(Posting(v, c, ("b",)) for v, c in postings), {})


def test_many_rare_shared_sketch_values_link_on_content_alone() -> None:
    scorer = PairScorer(LinkingConfig())
    (evidence,) = scorer.evaluate(_touch([(f"b:{i}.x", 8) for i in range(6)]))
    assert evidence.linked and evidence.content_only and evidence.kinds == 1


def test_a_shared_payload_or_application_is_not_content_alone() -> None:
    scorer = PairScorer(LinkingConfig())
    # Four shared values: what one benchmark problem's wording gives two strangers.
    assert scorer.evaluate(_touch([(f"b:{i}.x", 8) for i in range(4)])) == []
    # A popular application's own wording is in every prompt it sends, whoever uses it.
    shared_app = _touch([("sys:app", 900), *((f"b:{i}.x", 8) for i in range(6))])
    assert all(not e.content_only for e in scorer.evaluate(shared_app, linked_only=False))
    assert scorer.evaluate(shared_app) == []
    # Disabled: content alone links nobody.
    off = PairScorer(LinkingConfig(content_alone=0))
    assert off.evaluate(_touch([(f"b:{i}.x", 8) for i in range(6)])) == []


def _observe(
    observer: Observer, key: str, ip: str, agent: str, prompt: str, ts: float, temperature: float
) -> Observation:
    headers = [
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"user-agent", agent.encode()),
    ]
    messages = [{"role": "user", "content": prompt}]
    body = {"model": "m-1", "messages": messages, "temperature": temperature}
    return observer.observe(ApiKind.OPENAI_CHAT, headers, ip, body, ts)


def _task(rng: random.Random, words: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


async def _clusters(config: LinkingConfig) -> tuple[dict[str, str], dict[str, str]]:
    """Six farm accounts (one wrapper; own IP, client and parameters each) among forty
    independent users on one popular client build."""
    rng = random.Random(4)
    observer = Observer(GuardgateSettings(secret="content-alone"))
    linker = Linker(MemoryStore(config.limits), config)
    senders = [
        (f"sk-farm-{i}", f"203.0.{100 + i}.9", f"farmclient/{i}.0", "farm") for i in range(6)
    ]
    senders += [
        (f"sk-user-{i}", f"198.51.{i}.7", "OpenAI/Python 1.99.0", "user") for i in range(40)
    ]
    actor_of: dict[str, str] = {}
    ts = 1_800_000_000.0
    for _ in range(30):
        for key, ip, agent, actor in rng.sample(senders, len(senders)):
            task = _task(rng)
            prompt = _WRAPPER.format(task=task) if actor == "farm" else task
            temperature = int(key[-1]) / 10 if actor == "farm" else 1.0
            obs = _observe(observer, key, ip, agent, prompt, ts, temperature)
            actor_of[obs.account] = actor
            await linker.observe(obs)
            ts += 5.0
    await linker.recluster(ts)
    return await linker.store.clusters(), actor_of


async def test_a_farm_varying_everything_but_its_wording_becomes_one_cluster() -> None:
    clusters, actor_of = await _clusters(LinkingConfig())
    members: dict[str, set[str]] = defaultdict(set)
    for account, cid in clusters.items():
        members[cid].add(actor_of[account])
    farm = {clusters.get(a, a) for a, actor in actor_of.items() if actor == "farm"}
    assert len(farm) == 1, farm
    assert members[farm.pop()] == {"farm"}
    # Without content-only links the same farm stays unlinked.
    clusters, actor_of = await _clusters(LinkingConfig(content_alone=0))
    assert not any(actor_of[a] == "farm" for a in clusters)


async def test_a_content_only_link_needs_more_confirmations() -> None:
    config = LinkingConfig()
    observer = Observer(GuardgateSettings(secret="content-alone"))
    linker = Linker(MemoryStore(config.limits), config)
    rng = random.Random(7)
    ts = 1_800_000_000.0
    await linker.observe(
        _observe(
            observer, "sk-a", "203.0.113.1", "a/1", _WRAPPER.format(task=_task(rng, 4)), ts, 0.1
        )
    )
    found = []
    for _ in range(config.content_alone_confirmations):
        ts += 60.0
        prompt = _WRAPPER.format(task=_task(rng, 4))
        member = await linker.observe(
            _observe(observer, "sk-b", "198.18.0.2", "b/2", prompt, ts, 0.2)
        )
        found.append(bool(member.linked))
    assert found == [False] * (config.content_alone_confirmations - 1) + [True]
    assert member.linked[0].content_only
