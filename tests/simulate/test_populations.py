"""The simulated world per seed: every population drawn afresh, labelled, reproducible, and each
new population showing the trait that makes it hard."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guardgate.simulate import ATTACK_POPULATIONS, POPULATIONS, SimulationConfig
from guardgate.simulate.adapt import VARIANTS
from guardgate.simulate.runner import SimulationResult, simulate

SEEDS = (11, 12)


@dataclass(frozen=True)
class World:
    result: SimulationResult
    traffic: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    traffic_bytes: bytes

    def of(self, population: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [
            (t, lab)
            for t, lab in zip(self.traffic, self.labels, strict=True)
            if lab["population"] == population
        ]


def _run(directory: Path, seed: int) -> World:
    traffic, labels = directory / f"t{seed}.jsonl", directory / f"l{seed}.jsonl"
    result = simulate(SimulationConfig(days=2.0, scale=0.1, seed=seed), traffic, labels)
    raw = traffic.read_bytes()
    return World(
        result,
        [json.loads(line) for line in raw.splitlines()],
        [json.loads(line) for line in labels.read_text().splitlines()],
        raw,
    )


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, World]:
    directory = tmp_path_factory.mktemp("worlds")
    return {seed: _run(directory, seed) for seed in SEEDS}


def test_every_population_draws_its_parameters_per_seed(worlds: dict[int, World]) -> None:
    first, second = (worlds[s].result.drawn for s in SEEDS)
    for name, _ in POPULATIONS:
        assert first.get(name), f"{name} records nothing it drew"
        assert first[name] != second[name], f"{name} drew the same parameters for two seeds"


def test_no_population_keeps_a_constant_fingerprint(worlds: dict[int, World]) -> None:
    """What a detector could memorise (client builds with models and system prompts, sizes)
    differs between seeds for every population."""

    def fingerprint(world: World, name: str) -> tuple[object, ...]:
        pairs = world.of(name)
        agents = {(t["headers"]["user-agent"], t["body"]["model"]) for t, _ in pairs}
        systems = {json.dumps(t["body"].get("system") or t["body"].get("instructions"))
                   for t, _ in pairs}  # fmt: skip
        return (len(pairs), frozenset(agents), frozenset(systems))

    for name, _ in POPULATIONS:
        assert fingerprint(worlds[SEEDS[0]], name) != fingerprint(worlds[SEEDS[1]], name), name


def test_the_same_seed_gives_the_same_bytes(worlds: dict[int, World], tmp_path: Path) -> None:
    again = _run(tmp_path, SEEDS[0])
    assert again.traffic_bytes == worlds[SEEDS[0]].traffic_bytes


def test_labels_name_population_variant_and_harvest(worlds: dict[int, World]) -> None:
    names = {v.variant for v in VARIANTS}
    for world in worlds.values():
        seen_variants: dict[str, set[str]] = defaultdict(set)
        for record, lab in zip(world.traffic, world.labels, strict=True):
            assert lab["attack"] is (lab["population"] in ATTACK_POPULATIONS)
            assert isinstance(lab["answer_tokens"], int) and lab["answer_tokens"] >= 0
            assert isinstance(lab["reasoning_tokens"], int) and lab["reasoning_tokens"] >= 0
            body = record["body"]
            if body.get("thinking") or body.get("reasoning_effort"):
                assert lab["reasoning_tokens"] > 0
            if lab["attack"]:
                assert lab["variant"] in names
                seen_variants[lab["population"]].add(lab["variant"])
            else:
                assert lab["variant"] == ""
        # Farms with a dozen accounts or more carry every variant, even at scale 0.1.
        for farm in ("hydra_farm", "low_slow_farm", "single_scraper", "reseller_relay"):
            assert seen_variants[farm] == names, farm


def test_each_request_carries_the_usage_its_label_expects(worlds: dict[int, World]) -> None:
    # A replay charges token quotas from the answer's usage, as the sidecar does.
    for world in worlds.values():
        for record, lab in zip(world.traffic, world.labels, strict=True):
            expected = lab["answer_tokens"] + lab["reasoning_tokens"]
            assert record["usage"] == {"completion_tokens": expected}


def test_low_and_slow_accounts_send_a_few_requests_each(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        pairs = world.of("low_slow_farm")
        assert len({lab["account_key"] for _, lab in pairs}) >= 100
        per_account = Counter(
            lab["account_key"] for _, lab in pairs if lab["variant"] not in ("filler", "all")
        )
        assert max(per_account.values()) <= 21  # 20 at most, and now and then an SDK retry
        assert statistics.median(per_account.values()) <= 12


def test_datacenter_farm_sits_on_one_or_two_ranges(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        pairs = [(t, lab) for t, lab in world.of("datacenter_farm") if lab["variant"] == "base"]
        assert len({lab["account_key"] for _, lab in pairs}) >= 3
        ranges = {t["ip"].rsplit(".", 1)[0] for t, _ in pairs}
        assert 1 <= len(ranges) <= 2
        everyone = [t for t, _ in world.of("datacenter_farm")]
        # Its `exit_ip` accounts leave the range; the rest never do.
        assert len({t["ip"].rsplit(".", 1)[0] for t in everyone}) > len(ranges)


def test_agent_farm_sends_what_the_agent_crowd_sends(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        crowd = world.of("agent_crowd")
        farm = [(t, lab) for t, lab in world.of("agent_farm") if lab["variant"] == "base"]
        assert crowd and farm

        def system(record: dict[str, Any]) -> str:
            body = record["body"]
            return json.dumps(body.get("system") or body.get("instructions"))

        def tools(record: dict[str, Any]) -> str:
            return json.dumps(record["body"]["tools"])

        assert {system(t) for t, _ in farm} <= {system(t) for t, _ in crowd}
        assert {tools(t) for t, _ in farm} <= {tools(t) for t, _ in crowd}
        crowd_agents = {t["headers"]["user-agent"] for t, _ in crowd}
        assert {t["headers"]["user-agent"] for t, _ in farm} <= crowd_agents


def test_agent_teams_run_the_popular_agent_from_one_office_in_working_hours(
    worlds: dict[int, World],
) -> None:
    for world in worlds.values():
        team = world.of("agent_team")

        # The popular agent (its product; builds vary by laptop) and its prompt.
        def product(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> set[str]:
            return {t["headers"]["user-agent"].split("/")[0] for t, _ in pairs}

        assert product(team) == product(world.of("agent_crowd"))
        # Several engineers share each office address (the farm's cloud host has its match).
        holders: dict[str, set[str]] = defaultdict(set)
        for t, lab in team:
            holders[t["ip"]].add(lab["account_key"])
        shared = [ip for ip, keys in holders.items() if len(keys) >= 3]
        assert shared
        assert sum(len(holders[t["ip"]]) >= 3 for t, _ in team) >= 0.7 * len(team)
        # A team's office traffic keeps to its working day: most office addresses see requests
        # in at most 17 distinct UTC hours, while a farm's hosts see every hour.
        hours: dict[str, set[int]] = defaultdict(set)
        for t, _ in team:
            if t["ip"] in shared:
                hours[t["ip"]].add(int(t["ts"] // 3600) % 24)
        assert statistics.median(len(h) for h in hours.values()) <= 17


def test_the_day_adapted_agent_farm_keeps_to_four_of_the_detectors_slots(
    worlds: dict[int, World],
) -> None:
    from guardgate.scoring.features import slot_of

    for world in worlds.values():
        farm = world.of("agent_day_farm")
        assert farm
        # Whatever knob its accounts turn (filler, hours, bursts), every request falls in the
        # same four four-hour UTC slots, the most a team's working day covers.
        assert len({slot_of(t["ts"]) for t, _ in farm}) <= 4
        assert {t["headers"]["user-agent"].split("/")[0] for t, _ in farm} == {
            t["headers"]["user-agent"].split("/")[0] for t, _ in world.of("agent_farm")
        }


def test_agent_crowd_carries_about_ten_kilobytes_of_history(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        sizes = [len(json.dumps(t["body"])) for t, _ in world.of("agent_crowd")]
        assert 7_000 <= statistics.mean(sizes) <= 16_000


def test_gateway_key_serves_many_people_through_one_key(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        per_key: dict[str, set[str]] = defaultdict(set)
        for record, lab in world.of("gateway_key"):
            per_key[lab["account_key"]].add(record["body"].get("user", ""))
        assert per_key and all(len(users) >= 20 for users in per_key.values())


def test_campus_and_office_crowds_share_network_and_software(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        campus = world.of("campus_classes")
        assert len({lab["account_key"] for _, lab in campus}) >= 10
        assert len({t["ip"] for t, _ in campus}) <= 4
        office = world.of("office_tool")
        assert len({t["ip"] for t, _ in office}) <= 2
        assert len({t["headers"]["user-agent"] for t, _ in office}) == 1
        carrier = world.of("carrier_crowd")
        holders: dict[str, set[str]] = defaultdict(set)
        for t, lab in carrier:
            holders[t["ip"]].add(lab["account_key"])
        shared = sum(len(holders[t["ip"]]) >= 2 for t, _ in carrier)
        assert shared >= 0.7 * len(carrier)  # carrier NAT addresses are shared


def test_writers_ask_for_long_outputs(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        caps = [t["body"]["max_tokens"] for t, _ in world.of("writers")]
        assert caps and min(caps) >= 8000


def test_synthetic_data_is_one_account_per_customer_sweeping_a_template(
    worlds: dict[int, World],
) -> None:
    for world in worlds.values():
        pairs = world.of("synthetic_data")
        assert len({lab["actor"] for _, lab in pairs}) == len(
            {lab["account_key"] for _, lab in pairs}
        )
        assert len(pairs) >= 10 * len({lab["actor"] for _, lab in pairs})


def test_launch_evals_run_the_new_model_after_release(worlds: dict[int, World]) -> None:
    for seed, world in worlds.items():
        release = SimulationConfig(days=2.0, seed=seed).release
        pairs = world.of("eval_launch")
        assert pairs and all(t["body"]["model"] == "frontier-2" for t, _ in pairs)
        assert all(t["ts"] >= release for t, _ in pairs)
        items = Counter(t["body"]["messages"][-1]["content"] for t, _ in pairs)
        teams_per_item = defaultdict(set)
        for t, lab in pairs:
            teams_per_item[t["body"]["messages"][-1]["content"]].add(lab["actor"])
        assert items and max(len(v) for v in teams_per_item.values()) >= 2  # public items


def test_reasoning_power_users_run_reasoning(worlds: dict[int, World]) -> None:
    for world in worlds.values():
        pairs = world.of("reasoning_power")
        thinking = [t for t, lab in pairs if lab["reasoning_tokens"] > 0]
        assert len(thinking) >= 0.8 * len(pairs)
