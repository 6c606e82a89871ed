"""Adaptive farms: every free change an attacker who has read the source can make, alone and all
together, in one simulated week.

Each farm's accounts are dealt round-robin over `VARIANTS`: the farm as designed (`base`), the farm
with one knob turned (`stream`, `burst`, ...), and the farm with every knob turned (`all`). The
label of each request names its variant, so one replay measures every adaptation. A farm builds
its requests as usual and hands them to a `Campaign`, which applies the account's knobs when the
farm is done:

- `stream`: every request streams (`"stream": true`).
- `burst`: requests go out in machine-paced bursts of 3-8, well under two seconds apart.
- `system`: every request carries a system prompt copied from a legitimate product.
- `params`: sampling parameters are drawn afresh for every request.
- `max_tokens`: output limits and thinking budgets sit just under the detector's long-output
  threshold (the attacker has read it).
- `exit_ip`: every request leaves from a fresh residential proxy exit.
- `hours`: activity follows a person's waking hours in the account's time zone.
- `filler`: 30-60% extra innocent requests (ordinary questions) are mixed in.
- `headers`: the account runs the most popular current SDK build on a laptop, like legitimate users.
- `wording`: no "think step by step" or "show your reasoning" wording; the farm relies on the
  reasoning the model does anyway.
"""

from __future__ import annotations

import bisect
import math
import random
import re
from collections import defaultdict
from dataclasses import dataclass

from guardgate.model import ApiKind
from guardgate.simulate.bodies import NEW_MODEL, REASONING_MODELS, text_body
from guardgate.simulate.clients import (
    ANTHROPIC_PY_VERSIONS,
    CLAUDE_CLI_VERSIONS,
    CODEX_CLI_VERSIONS,
    OPENAI_NODE_VERSIONS,
    OPENAI_PY_VERSIONS,
    PYTHON_VERSIONS,
    ClientBuild,
    ClientKind,
)
from guardgate.simulate.config import DAY, HOUR
from guardgate.simulate.emitter import Account
from guardgate.simulate.network import ProxyNetwork
from guardgate.simulate.sessions import Send
from guardgate.simulate.text import question
from guardgate.simulate.timing import PERSONAL_HOURS, random_timezone
from guardgate.simulate.workloads import legit_systems
from guardgate.simulate.world import World

KNOBS: tuple[str, ...] = (
    "stream",
    "burst",
    "system",
    "params",
    "max_tokens",
    "exit_ip",
    "hours",
    "filler",
    "headers",
    "wording",
)
"""The free changes a farm can make, in the order their variants are dealt."""

LONG_OUTPUT_THRESHOLD = 8000
"""The detector's long-output threshold when it does not publish one (see `long_threshold`)."""


def long_threshold() -> int:
    """The `max_tokens` above which the detector calls an output long: the attacker reads it from
    the installed detector, as anyone can."""
    try:
        from guardgate.scoring import features
    except ImportError:  # pragma: no cover - the detector is part of the package
        return LONG_OUTPUT_THRESHOLD
    value = getattr(features, "LONG_OUTPUT_TOKENS", LONG_OUTPUT_THRESHOLD)
    return int(value) if isinstance(value, int | float) else LONG_OUTPUT_THRESHOLD


@dataclass(frozen=True)
class Tactics:
    """The knobs one farm account turns."""

    knobs: frozenset[str] = frozenset()

    @property
    def variant(self) -> str:
        """The label of the variant: `base`, the knob's name, or `all`."""
        if not self.knobs:
            return "base"
        if self.knobs == frozenset(KNOBS):
            return "all"
        return "+".join(k for k in KNOBS if k in self.knobs)

    def has(self, knob: str) -> bool:
        """Whether `knob` is turned."""
        return knob in self.knobs


BASE = Tactics()
VARIANTS: tuple[Tactics, ...] = (
    BASE,
    *(Tactics(frozenset({k})) for k in KNOBS),
    Tactics(frozenset(KNOBS)),
)
"""Every variant a farm's accounts are dealt over."""


@dataclass(frozen=True)
class Persona:
    """What an adapted account pretends to be: the values its knobs use."""

    tz: float
    system: str
    cap: int
    closer: str
    filler_share: float
    build: ClientBuild | None


@dataclass(frozen=True)
class FarmAccount:
    """A farm's account with its tactics and persona."""

    account: Account
    tactics: Tactics
    persona: Persona
    index: int


_CLOSERS = (
    "Give a complete, well-organised answer.",
    "Be thorough.",
    "Answer in full.",
    "Please be precise and complete.",
    "Cover everything relevant.",
    "",
)


def popular_build(rng: random.Random, kind: ClientKind) -> ClientBuild:
    """The build most legitimate users of `kind` run this week: one of its two newest versions
    on a laptop, a current runtime."""
    versions = {
        ClientKind.OPENAI_PY: OPENAI_PY_VERSIONS,
        ClientKind.ANTHROPIC_PY: ANTHROPIC_PY_VERSIONS,
        ClientKind.OPENAI_NODE: OPENAI_NODE_VERSIONS,
        ClientKind.CLAUDE_CLI: CLAUDE_CLI_VERSIONS,
        ClientKind.CODEX_CLI: CODEX_CLI_VERSIONS,
    }.get(kind, OPENAI_PY_VERSIONS)
    if kind not in (
        ClientKind.OPENAI_PY,
        ClientKind.ANTHROPIC_PY,
        ClientKind.OPENAI_NODE,
        ClientKind.CLAUDE_CLI,
        ClientKind.CODEX_CLI,
    ):
        kind = ClientKind.OPENAI_PY
    os_name, arch = rng.choices(
        (("MacOS", "arm64"), ("Windows", "x64"), ("Linux", "x64")), (6, 2, 2)
    )[0]
    node = kind in (ClientKind.OPENAI_NODE, ClientKind.CLAUDE_CLI)
    runtime = rng.choice(("v22.14.0", "v20.18.0")) if node else rng.choice(PYTHON_VERSIONS[-3:])
    return ClientBuild(kind, rng.choice(versions[-2:]), os_name, arch, runtime, rng.random() < 0.2)


class Campaign:
    """Collects one farm's requests and sends them with each account's knobs applied."""

    def __init__(
        self,
        world: World,
        name: str,
        rng: random.Random,
        window: tuple[int, int] | None = None,
    ) -> None:
        """A campaign labelled `name`; `rng` is the farm's own generator; `window`: UTC hours
        (from, to) that every request of the campaign keeps to, whatever the knobs move (the
        farm's own schedule; see `fold_into`)."""
        self.world = world
        self.name = name
        self.rng = rng
        self.window = window
        self.variants = VARIANTS if world.config.variants else (BASE,)
        self.proxies = ProxyNetwork(rng, world.config.count(600, minimum=30))
        self._systems = legit_systems(world.config.seed)
        self._threshold = long_threshold()
        self._accounts: list[FarmAccount] = []
        self._requests: dict[int, list[tuple[float, int, str, ApiKind, dict[str, object]]]] = (
            defaultdict(list)
        )
        self._order = 0

    def account(
        self,
        *,
        actor: str,
        build: ClientBuild,
        anthropic: bool = False,
        variant: Tactics | None = None,
    ) -> FarmAccount:
        """A new account of the campaign; its variant is dealt round-robin unless given."""
        rng = self.rng
        index = len(self._accounts)
        tactics = variant or self.variants[index % len(self.variants)]
        popular = None
        if tactics.has("headers"):
            if build.kind in (ClientKind.CLAUDE_CLI, ClientKind.CODEX_CLI):
                popular = popular_build(rng, build.kind)
            else:
                popular = popular_build(
                    rng, ClientKind.ANTHROPIC_PY if anthropic else ClientKind.OPENAI_PY
                )
            build = popular
        cap = self._threshold - rng.randint(1, max(2, self._threshold // 10))
        persona = Persona(
            tz=random_timezone(rng),
            system=rng.choice(self._systems),
            cap=cap,
            closer=rng.choice(_CLOSERS),
            filler_share=rng.uniform(0.3, 0.6),
            build=popular,
        )
        account = self.world.emitter.account(
            rng,
            actor=actor,
            population=self.name,
            attack=True,
            build=build,
            anthropic=anthropic,
            variant=tactics.variant,
        )
        farm_account = FarmAccount(account, tactics, persona, index)
        self._accounts.append(farm_account)
        return farm_account

    def send(
        self, who: FarmAccount, ts: float, ip: str, api: ApiKind, body: dict[str, object]
    ) -> None:
        """Queue one request of `who`; it is shaped and emitted by `finish()`."""
        self._requests[who.index].append((ts, self._order, ip, api, body))
        self._order += 1

    def sender(self, who: FarmAccount) -> Send:
        """A `Send` for sessions: queues `who`'s requests in this campaign."""
        cfg = self.world.config

        def send(
            rng: random.Random,
            ts: float,
            ip: str,
            account: Account,
            api: ApiKind,
            body: dict[str, object],
        ) -> bool:
            self.send(who, ts, ip, api, body)
            return cfg.start <= ts < cfg.end

        return send

    def finish(self) -> None:
        """Apply every account's knobs to its requests and emit them."""
        rng = self.rng
        emitter = self.world.emitter
        for who in self._accounts:
            queued = sorted(self._requests.pop(who.index, []))
            if not queued:
                continue
            t = who.tactics
            if t.has("filler"):
                queued = self._with_filler(rng, who, queued)
            times = [q[0] for q in queued]
            if t.has("hours"):
                times = [human_time(ts, who.persona.tz) for ts in times]
            if t.has("burst"):
                times = bursts(rng, sorted(times))
            if self.window is not None:
                times = [fold_into(ts, self.window) for ts in times]
            release = self.world.config.release
            for ts, (_, _, ip, api, body) in zip(times, queued, strict=True):
                if ts < release and body.get("model") == NEW_MODEL:
                    ts = release + rng.uniform(60, 3600)  # moved hours cannot precede the model
                if t.has("exit_ip"):
                    ip = self.proxies.exit(rng)
                emitter.emit(rng, ts, ip, who.account, api, shape(rng, t, who.persona, api, body))

    def _with_filler(
        self,
        rng: random.Random,
        who: FarmAccount,
        queued: list[tuple[float, int, str, ApiKind, dict[str, object]]],
    ) -> list[tuple[float, int, str, ApiKind, dict[str, object]]]:
        extra = []
        for _ in range(max(1, round(len(queued) * who.persona.filler_share))):
            ts, _, ip, api, body = rng.choice(queued)
            model = str(body.get("model", "gpt-4o"))
            params: dict[str, object] = {}
            if api is ApiKind.ANTHROPIC_MESSAGES:
                params["max_tokens"] = rng.choice((1024, 2048, 4096))
            filler = text_body(api, model, (), question(rng), params=params)
            extra.append((ts + rng.uniform(-3, 3) * HOUR, self._order, ip, api, filler))
            self._order += 1  # unique: sorting never compares the bodies
        return sorted(queued + extra)


def fold_into(ts: float, window: tuple[int, int]) -> float:
    """`ts` moved into the UTC hours `window` of its day (times inside stay where they are;
    the rest wrap around the window's width)."""
    opens, closes = window
    start = ts - ts % DAY + opens * HOUR
    width = (closes - opens) * HOUR
    return start + (ts - start) % width


# Cumulative share of a person's day by local hour, for `human_time`.
_CUMULATIVE = [0.0]
for _weight in PERSONAL_HOURS:
    _CUMULATIVE.append(_CUMULATIVE[-1] + _weight)
_CUMULATIVE = [c / _CUMULATIVE[-1] for c in _CUMULATIVE]


def human_time(ts: float, tz: float) -> float:
    """`ts` moved within its local day so that a uniform spread of times follows a person's
    waking hours in time zone `tz`; order is kept."""
    local = ts + tz * HOUR
    midnight = math.floor(local / DAY) * DAY
    share = (local - midnight) / DAY
    hour = min(23, bisect.bisect_right(_CUMULATIVE, share) - 1)
    low, high = _CUMULATIVE[hour], _CUMULATIVE[hour + 1]
    within = (share - low) / (high - low) if high > low else 0.0
    return midnight + (hour + within) * HOUR - tz * HOUR


def bursts(rng: random.Random, times: list[float]) -> list[float]:
    """`times` regrouped into bursts of 3-8 requests sent 0.2-1.5 s apart."""
    out: list[float] = []
    i = 0
    while i < len(times):
        size = rng.randint(3, 8)
        ts = times[i]
        for _ in range(min(size, len(times) - i)):
            out.append(ts)
            ts += rng.uniform(0.2, 1.5)
        i += size
    return out


_ELICIT = re.compile(
    r"step[- ]by[- ]step|reason|think|thought|walk (?:me )?through|explain (?:your|each|the)"
    r"|show (?:all |me )?(?:of )?(?:your|each|every)|intermediate|articulate|out loud|in detail"
    r"|every assumption|double-check|step of",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def plain_wording(text: str, closer: str) -> str:
    """`text` without the sentences that ask for written-out reasoning (code blocks untouched);
    `closer` ends it when something was removed."""
    lines = text.split("\n")
    out: list[str] = []
    fenced = False
    removed = False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            out.append(line)
            continue
        if fenced or not _ELICIT.search(line):
            out.append(line)
            continue
        kept = [s for s in _SENTENCE.split(line) if not _ELICIT.search(s)]
        removed = True
        if kept:
            out.append(" ".join(kept))
    result = "\n".join(out).strip()
    if removed and closer:
        result = f"{result}\n\n{closer}" if result else closer
    return result


def _map_user_text(body: dict[str, object], fn: object) -> None:
    """Apply `fn` to the text of every user turn of `body`, copying what it changes."""
    assert callable(fn)
    messages = body.get("messages")
    if isinstance(messages, list):
        new = []
        for m in messages:
            if (
                isinstance(m, dict)
                and m.get("role") == "user"
                and isinstance(m.get("content"), str)
            ):
                m = {**m, "content": fn(m["content"])}
            new.append(m)
        body["messages"] = new
    given = body.get("input")
    if isinstance(given, str):
        body["input"] = fn(given)
    elif isinstance(given, list):
        items = []
        for item in given:
            if isinstance(item, dict) and item.get("role") == "user":
                content = item.get("content")
                if isinstance(content, str):
                    item = {**item, "content": fn(content)}
                elif isinstance(content, list):
                    item = {
                        **item,
                        "content": [
                            {**c, "text": fn(c["text"])}
                            if isinstance(c, dict) and isinstance(c.get("text"), str)
                            else c
                            for c in content
                        ],
                    }
            items.append(item)
        body["input"] = items


def _set_system(api: ApiKind, body: dict[str, object], system: str) -> None:
    if api is ApiKind.ANTHROPIC_MESSAGES:
        body["system"] = system
    elif api is ApiKind.OPENAI_RESPONSES:
        body["instructions"] = system
    else:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return
        rest = [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]
        body["messages"] = [{"role": "system", "content": system}, *rest]


def _random_params(rng: random.Random, api: ApiKind, body: dict[str, object]) -> None:
    model = str(body.get("model", ""))
    thinking = body.get("thinking")
    if api is ApiKind.ANTHROPIC_MESSAGES:
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            budget = int(thinking.get("budget_tokens", 4000))
            body["thinking"] = {
                "type": "enabled",
                "budget_tokens": rng.randint(budget // 2, budget),
            }
        else:
            body["temperature"] = round(rng.uniform(0.2, 1.0), 2)
            if rng.random() < 0.5:
                body["top_p"] = round(rng.uniform(0.8, 1.0), 2)
        return
    if api is ApiKind.OPENAI_RESPONSES or (model in REASONING_MODELS and model != "deepseek-r1"):
        effort = rng.choice(("low", "medium", "high", "high"))
        if api is ApiKind.OPENAI_RESPONSES:
            body["reasoning"] = {"effort": effort}
        else:
            body["reasoning_effort"] = effort
        for key in ("max_completion_tokens", "max_output_tokens"):
            value = body.get(key)
            if isinstance(value, int):
                body[key] = max(256, int(value * rng.uniform(0.6, 1.0)) // 100 * 100)
        return
    for key in ("temperature", "top_p", "presence_penalty", "seed"):
        body.pop(key, None)
    body["temperature"] = round(rng.uniform(0.2, 1.1), 2)
    if rng.random() < 0.5:
        body["top_p"] = round(rng.uniform(0.8, 1.0), 2)
    if rng.random() < 0.3:
        body["presence_penalty"] = round(rng.uniform(0.0, 0.6), 1)


def _cap_tokens(body: dict[str, object], cap: int) -> None:
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(key)
        if isinstance(value, int) and value > cap:
            body[key] = cap
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        raw = thinking.get("budget_tokens", 0)
        budget = raw if isinstance(raw, int) else 0
        given = body.get("max_tokens")
        limit = given if isinstance(given, int) else cap
        body["thinking"] = {
            "type": "enabled",
            "budget_tokens": min(budget, max(1024, limit * 3 // 4)),
        }


def shape(
    rng: random.Random, tactics: Tactics, persona: Persona, api: ApiKind, body: dict[str, object]
) -> dict[str, object]:
    """`body` with the body-level knobs of `tactics` applied (a copy; `body` is not changed)."""
    if not tactics.knobs:
        return body
    out = dict(body)
    if tactics.has("wording"):
        _map_user_text(out, lambda text: plain_wording(text, persona.closer))
    if tactics.has("system"):
        _set_system(api, out, persona.system)
    if tactics.has("params"):
        _random_params(rng, api, out)
    if tactics.has("max_tokens"):
        _cap_tokens(out, persona.cap)
    if tactics.has("stream"):
        out["stream"] = True
        if api is ApiKind.OPENAI_CHAT:
            out["stream_options"] = {"include_usage": True}
    return out
