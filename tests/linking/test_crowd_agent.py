"""A popular agent's crowd and a farm posing as that agent: the values the agent gives all its
users (system prompt, tool schemas, client builds, the kind of work asked of it) link nobody,
while the farm's shared hosts still link its accounts, and noise the farm adds for free does
not make it harder to link than the plain copy."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from guardgate.linking import Linker, LinkingConfig, PairScorer
from guardgate.model import ApiKind, Observation
from guardgate.settings import GuardgateSettings
from guardgate.signals import Observer
from guardgate.store import MemoryStore, Posting, Touch

AGENT_SYSTEM = (
    "You are CodePilot, an interactive command line agent that helps users with software "
    "engineering tasks. Use the tools available to you to read, edit and test code."
)
AGENT_TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"properties": props}}}
    for name, props in (
        ("read_file", {"path": {}}),
        ("edit_file", {"path": {}, "old": {}, "new": {}}),
        ("run", {"command": {}}),
    )
]
BUILDS = ("CodePilot/2.1.0 (darwin; arm64)", "CodePilot/2.1.0 (linux; x64)")
TASKS = (
    "Fix the failing test in tests/test_{f}.py and explain what was wrong with it.",
    "Add pagination to the {f} endpoint, update the tests and the API documentation.",
    "Refactor {f} to use {g}; keep the behaviour the same and the public names stable.",
    "Why does {f} raise an error on empty input? Find the cause and fix it with a test.",
)
NAMES = ("parse_config", "load_user", "render_page", "sync_jobs", "send_mail", "read_csv")
HOSTS = ("34.12.5.7", "34.88.1.20", "35.190.4.4")
START = 1_800_000_000.0


def _body(rng: random.Random, system: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
    task = rng.choice(TASKS).format(f=rng.choice(NAMES), g=rng.choice(NAMES))
    return {
        "model": "m-1",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": task}],
        "tools": tools,
    }


def _traffic(*, noise: bool = False, seed: int = 7) -> list[tuple[Observation, str]]:
    """(observation, 'crowd' or 'farm') in time order: 60 users of the agent, each from their
    own home address, and 12 farm accounts posing as the agent from three cloud hosts; `noise`:
    the farm appends a random token to the system prompt and renames a tool per account."""
    rng = random.Random(seed)
    observer = Observer(GuardgateSettings(secret="crowd"))
    events: list[tuple[float, str, int]] = []
    for i in range(60):
        events += [(START + rng.uniform(0, 8 * 3600), "crowd", i) for _ in range(10)]
    for i in range(12):
        events += [(START + rng.uniform(0, 8 * 3600), "farm", i) for _ in range(25)]
    events.sort()
    out = []
    for ts, who, i in events:
        system, tools = AGENT_SYSTEM, AGENT_TOOLS
        if who == "farm":
            ip = HOSTS[i % len(HOSTS)]
            if noise:
                system = f"{AGENT_SYSTEM} ref-{i}-{rng.randrange(10**6)}"
                tools = [*AGENT_TOOLS[:-1], {"type": "function", "function": {"name": f"r{i}"}}]
        else:
            ip = f"203.0.{i}.9"
        headers = [
            (b"authorization", f"Bearer sk-{who}-{i}".encode()),
            (b"content-type", b"application/json"),
            (b"user-agent", BUILDS[i % len(BUILDS)].encode()),
        ]
        obs = observer.observe(ApiKind.OPENAI_CHAT, headers, ip, _body(rng, system, tools), ts)
        out.append((obs, who))
    return out


async def _clusters(
    config: LinkingConfig, traffic: list[tuple[Observation, str]]
) -> tuple[dict[str, str], dict[str, str]]:
    linker = Linker(MemoryStore(config.limits), config)
    who_of: dict[str, str] = {}
    for obs, who in traffic:
        who_of[obs.account] = who
        await linker.observe(obs)
    await linker.recluster(traffic[-1][0].ts)
    return await linker.store.clusters(), who_of


def _crowd_with_farm(clusters: dict[str, str], who_of: dict[str, str]) -> int:
    """Crowd accounts that share a cluster with a farm account."""
    farm_clusters = {cid for a, cid in clusters.items() if who_of[a] == "farm"}
    return sum(1 for a, cid in clusters.items() if who_of[a] == "crowd" and cid in farm_clusters)


def _farm_linked(clusters: dict[str, str], who_of: dict[str, str]) -> int:
    """Farm accounts that share a cluster with at least one other farm account."""
    by_cluster: dict[str, int] = defaultdict(int)
    for a, cid in clusters.items():
        if who_of[a] == "farm":
            by_cluster[cid] += 1
    return sum(n for n in by_cluster.values() if n > 1)


async def test_the_agents_crowd_stays_apart_and_the_farm_is_linked_by_its_hosts() -> None:
    clusters, who_of = await _clusters(LinkingConfig(), _traffic())
    assert _crowd_with_farm(clusters, who_of) == 0
    assert _farm_linked(clusters, who_of) == 12
    farm_clusters = {cid for a, cid in clusters.items() if who_of[a] == "farm"}
    assert len(farm_clusters) <= len(HOSTS)


async def test_without_the_crowd_rule_the_crowd_glues_to_the_farm() -> None:
    # The weighting by share of active accounts alone: the agent's values look rare among 72
    # accounts, and the farm ends up in one cluster with the agent's users.
    clusters, who_of = await _clusters(LinkingConfig(crowd_accounts=0), _traffic())
    assert _crowd_with_farm(clusters, who_of) > 10


async def test_noise_on_the_agents_prompt_and_tools_does_not_hide_a_farm() -> None:
    plain, who_plain = await _clusters(LinkingConfig(), _traffic())
    noisy, who_noisy = await _clusters(LinkingConfig(), _traffic(noise=True))
    assert _farm_linked(noisy, who_noisy) >= _farm_linked(plain, who_plain) == 12
    assert _crowd_with_farm(noisy, who_noisy) == 0


def _touch(postings: list[tuple[str, int]]) -> Touch:
    return Touch(5000, "", 1, tuple(Posting(v, c, ("b",)) for v, c in postings), {})


CROWD_VALUES = [
    ("sys:agent", 300),
    ("tool:agent", 300),
    ("cli:agent-build", 9),
    *[(f"b:{i}.task", 6) for i in range(6)],
]


def test_what_a_crowds_agent_fixes_links_nobody_an_address_still_does() -> None:
    scorer = PairScorer(LinkingConfig())
    assert scorer.crowd_tools(_touch(CROWD_VALUES))
    assert not scorer.crowd_tools(_touch([("tool:own", 19), ("sys:agent", 300)]))
    # A script's (or a person's) requests: build and like content are evidence.
    (alike,) = scorer.evaluate(_touch(CROWD_VALUES))
    assert alike.linked
    # The same values from a crowd's agent: the build is the agent's, the content its work.
    assert scorer.evaluate(_touch(CROWD_VALUES), crowd_agent=True) == []
    (evidence,) = scorer.evaluate(_touch(CROWD_VALUES), crowd_agent=True, linked_only=False)
    assert evidence.weights[3] == 0.0 and not evidence.linked
    # One cloud host shared by a dozen accounts still links them.
    hosted = _touch([("ip:34.12.5.7", 12), *CROWD_VALUES])
    (farm,) = scorer.evaluate(hosted, crowd_agent=True)
    assert farm.linked and farm.weights[0] > 0.5 and farm.weights[3] > 0


async def test_an_account_that_sends_requests_without_tools_is_no_agent() -> None:
    config = LinkingConfig(crowd_accounts=1)
    linker = Linker(MemoryStore(config.limits), config)
    observer = Observer(GuardgateSettings(secret="crowd"))
    rng = random.Random(1)

    async def agent_request(account: str, tools: list[dict[str, Any]]) -> bool:
        headers = [(b"authorization", f"Bearer sk-{account}".encode())]
        body = _body(rng, AGENT_SYSTEM, tools)
        obs = observer.observe(ApiKind.OPENAI_CHAT, headers, "203.0.113.1", body, START)
        touch = await linker.store.touch(obs.account, obs.ts, [f"tool:{obs.tools_hash}"])
        return linker._runs_agent(obs) and linker.scorer.crowd_tools(touch)

    assert not await agent_request("b", AGENT_TOOLS)  # the tools' only user so far
    assert await agent_request("a", AGENT_TOOLS)
    assert await agent_request("a", AGENT_TOOLS)
    assert not await agent_request("a", [])  # a request without tools: a script's
    assert not await agent_request("a", AGENT_TOOLS)
    assert await agent_request("b", AGENT_TOOLS)
