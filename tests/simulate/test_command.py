"""`guardgate simulate` end to end: files, labels, populations and their telltale shapes."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guardgate.cli import main
from guardgate.protocols.endpoints import api_for_path
from guardgate.simulate import ATTACK_POPULATIONS, POPULATIONS, SimulationConfig
from guardgate.simulate.config import parse_start

ARGS = ["--scale", "0.1", "--days", "2", "--seed", "3", "--start", "2026-11-02T00:00:00Z"]
START = parse_start("2026-11-02T00:00:00Z")
END = START + 2 * 86400
RELEASE = SimulationConfig(days=2, start=START).release


@dataclass(frozen=True)
class Run:
    traffic_path: Path
    labels_path: Path
    stdout: str
    traffic: list[dict[str, Any]]
    labels: list[dict[str, Any]]

    def by_population(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(t, lab) for t, lab in zip(self.traffic, self.labels, strict=True) if
                lab["population"] == name]  # fmt: skip


def _simulate(directory: Path, extra: list[str]) -> tuple[Path, Path]:
    traffic, labels = directory / "traffic.jsonl", directory / "labels.jsonl"
    assert main(["simulate", "--out", str(traffic), "--labels", str(labels), *extra]) == 0
    return traffic, labels


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory = tmp_path_factory.mktemp("sim")
    capture = directory / "stdout.txt"
    with capture.open("w") as out, contextlib.redirect_stdout(out):
        traffic, labels = _simulate(directory, ARGS)
    return Run(
        traffic,
        labels,
        capture.read_text(),
        [json.loads(line) for line in traffic.read_text().splitlines()],
        [json.loads(line) for line in labels.read_text().splitlines()],
    )


def test_same_arguments_give_identical_bytes(run: Run, tmp_path: Path) -> None:
    traffic, labels = _simulate(tmp_path, ARGS)
    assert traffic.read_bytes() == run.traffic_path.read_bytes()
    assert labels.read_bytes() == run.labels_path.read_bytes()


def test_another_seed_gives_other_traffic(run: Run, tmp_path: Path) -> None:
    traffic, _ = _simulate(tmp_path, [*ARGS[:-4], "--seed", "4", *ARGS[-2:]])
    assert traffic.read_bytes() != run.traffic_path.read_bytes()


def test_every_line_is_a_replayable_request(run: Run) -> None:
    assert run.traffic
    for record, label in zip(run.traffic, run.labels, strict=True):
        assert list(record) == ["ts", "ip", "method", "path", "headers", "body", "usage"]
        assert isinstance(record["ts"], float)
        ipaddress.ip_address(record["ip"])
        assert record["method"] == "POST"
        api = api_for_path(record["path"])
        assert api is not None
        headers = record["headers"]
        assert all(isinstance(k, str) and k == k.lower() for k in headers)
        assert all(isinstance(v, str) for v in headers.values())
        assert "x-forwarded-for" not in headers
        assert "content-type" in headers and "user-agent" in headers
        key = label["account_key"]
        if api.is_anthropic:
            assert key.startswith("sk-ant-")
            assert headers.get("x-api-key") == key or headers.get("authorization") == (
                f"Bearer {key}"
            )
            assert headers["anthropic-version"]
            assert isinstance(record["body"]["max_tokens"], int)
        else:
            assert key.startswith("sk-proj-")
            assert headers["authorization"] == f"Bearer {key}"
        assert isinstance(record["body"]["model"], str)


def test_labels_align_with_lines(run: Run) -> None:
    assert len(run.labels) == len(run.traffic)
    names = {name for name, _ in POPULATIONS}
    for i, label in enumerate(run.labels):
        assert list(label) == [
            "line", "population", "variant", "actor", "attack", "account_key",
            "answer_tokens", "reasoning_tokens",
        ]  # fmt: skip
        assert label["line"] == i
        assert label["population"] in names
        assert label["attack"] is (label["population"] in ATTACK_POPULATIONS)


def test_each_key_belongs_to_one_population(run: Run) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for label in run.labels:
        owners[label["account_key"]].add(label["population"])
    assert all(len(p) == 1 for p in owners.values())


def test_every_population_is_present_and_summarised(run: Run) -> None:
    present = {label["population"] for label in run.labels}
    for name, _ in POPULATIONS:
        assert name in present
        assert name in run.stdout
    assert "attack share" in run.stdout


def test_attack_share_is_in_the_intended_range(run: Run) -> None:
    share = sum(label["attack"] for label in run.labels) / len(run.labels)
    assert 0.15 <= share <= 0.40


def test_timestamps_are_sorted_and_inside_the_span(run: Run) -> None:
    stamps = [r["ts"] for r in run.traffic]
    assert stamps == sorted(stamps)
    assert stamps[0] >= START and stamps[-1] < END


def _subnets_per_request(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> float:
    """Median over accounts with at least 3 requests of distinct /24s / requests."""
    ips: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for record, label in pairs:
        ips[label["account_key"]].add(record["ip"].rsplit(".", 1)[0])
        counts[label["account_key"]] += 1
    ratios = [len(ips[k]) / n for k, n in counts.items() if n >= 3]
    assert ratios
    return statistics.median(ratios)


def test_hydra_accounts_rotate_ips_far_more_than_legit_users(run: Run) -> None:
    hydra = _subnets_per_request(run.by_population("hydra_farm"))
    for legit in ("casual", "heavy_user", "corporate_nat", "coding_agent", "university_class"):
        assert hydra > 2 * _subnets_per_request(run.by_population(legit)), legit
    subnets = {r["ip"].rsplit(".", 1)[0] for r, _ in run.by_population("hydra_farm")}
    assert len(subnets) >= 20


def test_hydra_accounts_share_one_client_build_and_params(run: Run) -> None:
    pairs = run.by_population("hydra_farm")
    agents = {r["headers"]["user-agent"] for r, lab in pairs if lab["variant"] == "base"}
    assert len(agents) <= 2  # one OpenAI build, one Anthropic build
    copied = {r["headers"]["user-agent"] for r, lab in pairs if lab["variant"] == "headers"}
    assert copied and not copied & agents  # the `headers` variant runs a popular build instead


def test_chat_app_sends_through_one_key_from_few_servers(run: Run) -> None:
    per_app: dict[str, tuple[set[str], set[str], set[str]]] = defaultdict(
        lambda: (set(), set(), set())
    )
    for record, label in run.by_population("chat_app"):
        keys, ips, systems = per_app[label["actor"]]
        keys.add(label["account_key"])
        ips.add(record["ip"])
        systems.add(record["body"]["messages"][0]["content"])
    assert per_app
    for keys, ips, systems in per_app.values():
        assert len(keys) == 1 and len(ips) <= 4 and len(systems) == 1


def test_chats_grow_their_history(run: Run) -> None:
    lengths = [len(r["body"]["messages"]) for r, _ in run.by_population("chat_app")]
    assert max(lengths) >= 4


def test_frontier_model_appears_only_after_release(run: Run) -> None:
    early = [r for r in run.traffic if r["body"]["model"] == "frontier-2" and r["ts"] < RELEASE]
    assert early == []
    hopper = [r for r, _ in run.by_population("model_hopper") if r["ts"] >= RELEASE + 6 * 3600]
    assert hopper
    share = sum(r["body"]["model"] == "frontier-2" for r in hopper) / len(hopper)
    assert share > 0.7
    legit = {
        lab["population"]
        for r, lab in zip(run.traffic, run.labels, strict=True)
        if r["body"]["model"] == "frontier-2" and not lab["attack"]
    }
    assert legit, "some legitimate early adopters try the new model"


def test_eval_runners_repeat_fixed_prompts_at_temperature_zero(run: Run) -> None:
    pairs = run.by_population("eval_runner")
    prompts = [r["body"]["messages"][-1]["content"] for r, _ in pairs]
    assert len(set(prompts)) < len(prompts)
    assert all(r["body"].get("temperature", 0) in (0, 0.8) for r, _ in pairs)
    assert len({r["body"].get("max_tokens") for r, _ in pairs}) <= 3


def test_university_class_stays_on_few_campus_slash16s(run: Run) -> None:
    pairs = run.by_population("university_class")
    slash16 = [".".join(r["ip"].split(".")[:2]) for r, _ in pairs]
    top = max(set(slash16), key=slash16.count)
    assert slash16.count(top) / len(slash16) > 0.5


def test_coding_agents_send_tool_results_back(run: Run) -> None:
    shapes = set()
    for record, _ in run.by_population("coding_agent"):
        text = json.dumps(record["body"])
        for marker in ('"tool_result"', '"function_call_output"', '"role": "tool"'):
            if marker in text:
                shapes.add(marker)
    assert shapes  # at small scale at least one of the three shapes


def test_single_scraper_asks_for_logprobs_round_the_clock(run: Run) -> None:
    pairs = run.by_population("single_scraper")
    scripted = [r for r, lab in pairs if lab["variant"] not in ("filler", "all")]
    assert scripted and all(r["body"]["logprobs"] is True for r in scripted)
    hours = {int((r["ts"] - START) // 3600) % 24 for r, _ in pairs}
    assert len(hours) >= 18


def test_bad_arguments_exit_with_code_2(tmp_path: Path) -> None:
    code = main(
        ["simulate", "--out", str(tmp_path / "t"), "--labels", str(tmp_path / "l"), "--days", "0"]
    )
    assert code == 2
