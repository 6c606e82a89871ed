"""Accounts and the collection of generated requests, serialised as they are made."""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from dataclasses import dataclass

from guardgate.model import ApiKind
from guardgate.simulate.bodies import PATHS
from guardgate.simulate.clients import ClientBuild, header_template, order_body
from guardgate.simulate.config import SimulationConfig
from guardgate.simulate.harvest import expected_tokens

_KEY_ALPHABET = string.ascii_letters + string.digits + "-_"


def new_key(rng: random.Random, anthropic: bool) -> str:
    """A fresh API key in the provider's format."""
    if anthropic:
        return "sk-ant-api03-" + "".join(rng.choices(_KEY_ALPHABET, k=93)) + "AA"
    return "sk-proj-" + "".join(rng.choices(_KEY_ALPHABET, k=74))


@dataclass(frozen=True)
class Account:
    """One API key, who holds it, and the client software that uses it."""

    key: str
    actor: str
    population: str
    attack: bool
    build: ClientBuild
    variant: str = ""
    """For farm accounts, the adaptation they run (`base`, a knob's name, `all`)."""


@dataclass(frozen=True)
class PopulationStats:
    """What one population contributed to a run."""

    population: str
    attack: bool
    requests: int
    accounts: int
    actors: int


class Emitter:
    """Collects requests from every population; `lines()` yields them sorted by time."""

    def __init__(self, config: SimulationConfig) -> None:
        """Start an empty collection for the span of `config`."""
        self.config = config
        self._records: list[tuple[float, int, str, str]] = []
        self._headers: dict[tuple[str, ApiKind], list[tuple[str, str]]] = {}
        self._seen: dict[str, tuple[Counter[str], set[str], set[str], bool]] = {}
        # Token draws have a generator of their own: labels do not shift any population's draws.
        self._tokens = random.Random(f"{config.seed}:tokens")

    def account(
        self,
        rng: random.Random,
        *,
        actor: str,
        population: str,
        attack: bool,
        build: ClientBuild,
        anthropic: bool = False,
        variant: str = "",
    ) -> Account:
        """A new account with a fresh key."""
        return Account(new_key(rng, anthropic), actor, population, attack, build, variant)

    def emit(
        self,
        rng: random.Random,
        ts: float,
        ip: str,
        account: Account,
        api: ApiKind,
        body: dict[str, object],
        *,
        retry_chance: float = 0.004,
    ) -> bool:
        """Record one request; returns False (and records nothing) outside the span.

        SDK clients retry a small share of requests (a 429, a 5xx or a timeout), so now and
        then the same body is sent again seconds later with `x-stainless-retry-count: 1`.
        """
        if not self.config.start <= ts < self.config.end:
            return False
        pairs = self._headers.get((account.key, api))
        if pairs is None:
            pairs = header_template(account.build, api, account.key)
            self._headers[(account.key, api)] = pairs
        ordered = order_body(account.build, body)
        self._add(ts, ip, account, api, dict(pairs), ordered)
        if account.build.sends_stainless and rng.random() < retry_chance:
            retry_ts = ts + rng.uniform(0.5, 8.0)
            if retry_ts < self.config.end:
                headers = dict(pairs)
                headers["x-stainless-retry-count"] = "1"
                self._add(retry_ts, ip, account, api, headers, ordered)
        return True

    def _add(
        self,
        ts: float,
        ip: str,
        account: Account,
        api: ApiKind,
        headers: dict[str, str],
        body: dict[str, object],
    ) -> None:
        ts = round(ts, 3)
        answer, reasoning = expected_tokens(self._tokens, body)
        record = {
            "ts": ts,
            "ip": ip,
            "method": "POST",
            "path": PATHS[api],
            "headers": headers,
            "body": body,
            # What the upstream would report (reasoning tokens are output tokens), so that a
            # replay charges token quotas as the sidecar would.
            "usage": {"completion_tokens": answer + reasoning},
        }
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        label = json.dumps(
            {
                "population": account.population,
                "variant": account.variant,
                "actor": account.actor,
                "attack": account.attack,
                "account_key": account.key,
                "answer_tokens": answer,
                "reasoning_tokens": reasoning,
            },
            separators=(",", ":"),
        )
        self._records.append((ts, len(self._records), line, label))
        stats = self._seen.get(account.population)
        if stats is None:
            stats = (Counter(), set(), set(), account.attack)
            self._seen[account.population] = stats
        stats[0]["requests"] += 1
        stats[1].add(account.key)
        stats[2].add(account.actor)

    def sorted_lines(self) -> list[tuple[str, str]]:
        """(traffic line, label line) pairs in time order; label lines carry their index."""
        self._records.sort(key=lambda r: (r[0], r[1]))
        return [
            (line, '{"line":%d,%s' % (i, label[1:]))  # noqa: UP031 - hot path, one format
            for i, (_, _, line, label) in enumerate(self._records)
        ]

    def stats(self) -> list[PopulationStats]:
        """Requests, accounts and actors per population, in the order populations ran."""
        return [
            PopulationStats(name, attack, counts["requests"], len(keys), len(actors))
            for name, (counts, keys, actors, attack) in self._seen.items()
        ]
