"""`guardgate calibrate`: thresholds that flag at most a share of an operator's accounts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from guardgate.calibrate import AccountPeak, calibrate, peaks
from guardgate.cli import main
from guardgate.scoring.tiers import TierThresholds

_ENV = re.compile(r"^GUARDGATE_SCORING_(\w+)=([0-9.]+)$", re.M)


def _peaks(scores: list[float]) -> list[AccountPeak]:
    return [
        AccountPeak(f"acct-{i:04d}", s, 3, f"acct-{i:04d}", ("why",)) for i, s in enumerate(scores)
    ]


def _settings(out: str) -> dict[str, float]:
    return {name.lower(): float(value) for name, value in _ENV.findall(out)}


def test_the_thresholds_flag_at_most_the_share_asked_for_and_follow_the_scores() -> None:
    scores = [0.5 + 0.49 * (i / 999) ** 3 for i in range(1000)]
    base = TierThresholds()
    loose = calibrate(_peaks(scores), 0.05, base)
    strict = calibrate(_peaks(scores), 0.001, base)
    for result, budget in ((loose, 50), (strict, 1)):
        assert len(result.flagged) <= budget
        assert all(p.score >= result.thresholds.suspect_enter for p in result.flagged)
        assert sum(s >= result.thresholds.suspect_enter for s in scores) == len(result.flagged)
    assert strict.thresholds.suspect_enter > loose.thresholds.suspect_enter
    # The 51st highest score stays just below the loose threshold.
    assert sorted(scores)[-51] < loose.thresholds.suspect_enter <= sorted(scores)[-51] + 2e-4
    shifted = calibrate(_peaks([s * 0.999 for s in scores]), 0.05, base)
    assert shifted.thresholds.suspect_enter < loose.thresholds.suspect_enter


def test_hysteresis_is_kept_and_the_configured_thresholds_are_a_floor() -> None:
    base = TierThresholds()
    high = calibrate(_peaks([0.99] + [0.97] * 999), 0.001, base).thresholds
    assert high.suspect_exit < high.suspect_enter <= high.extractor_enter <= 1.0
    assert high.suspect_exit <= high.extractor_exit < high.extractor_enter
    assert high.suspect_enter == pytest.approx(0.9701)
    quiet = calibrate(_peaks([0.1] * 1000), 0.001, base)
    assert quiet.thresholds == base
    assert quiet.needed == pytest.approx(0.1001)
    lower = calibrate(_peaks([0.1] * 1000), 0.001, base, allow_lower=True).thresholds
    assert lower.suspect_enter == pytest.approx(0.1001)
    assert lower.suspect_exit < lower.suspect_enter < lower.extractor_enter


def test_scores_nothing_can_separate_are_reported() -> None:
    result = calibrate(_peaks([1.0] * 10 + [0.5] * 990), 0.001, TierThresholds())
    assert result.saturated
    assert result.thresholds.suspect_enter == 1.0


def test_an_accounts_peak_is_its_highest_scoring_request_with_its_reasons() -> None:
    found = peaks(
        [
            {"account": "a", "score": 0.2, "cluster": "a", "reasons": []},
            {"account": "a", "score": 0.9, "cluster": "c-1", "reasons": ["long answers (+2.0)"]},
            {"account": "a", "score": 0.4, "cluster": "c-1", "reasons": []},
        ]
    )
    assert found == [AccountPeak("a", 0.9, 3, "c-1", ("long answers (+2.0)",))]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("calibrate")
    traffic = out / "traffic.jsonl"
    code = main(
        [
            "simulate",
            "--out",
            str(traffic),
            "--labels",
            str(out / "labels.jsonl"),
            "--scale",
            "0.05",
            "--days",
            "1",
            "--seed",
            "5",
            "--no-variants",
        ]
    )
    assert code == 0
    return traffic


def test_calibrate_reads_the_simulators_traffic_and_a_replay_decisions_log_alike(
    week: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", str(week), "--max-flagged", "0.01"]) == 0
    from_traffic = capsys.readouterr().out
    decisions = tmp_path / "decisions.jsonl"
    assert main(["replay", str(week), "--decisions", str(decisions), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["calibrate", str(decisions), "--max-flagged", "0.01"]) == 0
    from_decisions = capsys.readouterr().out
    assert from_traffic == from_decisions

    chosen = _settings(from_traffic)
    assert set(chosen) == {"suspect_enter", "suspect_exit", "extractor_enter", "extractor_exit"}
    highest: dict[str, float] = {}
    for line in decisions.read_text().splitlines():
        d = json.loads(line)
        highest[d["account"]] = max(highest.get(d["account"], 0.0), d["score"])
    above = sorted(a for a, s in highest.items() if s >= chosen["suspect_enter"])
    assert len(above) <= 0.01 * len(highest)
    listed = re.findall(r"^  ([0-9a-f]{16}) ", from_traffic, re.M)
    assert sorted(listed) == sorted(a[:16] for a in above)
    assert "sk-" not in from_traffic  # account ids are the engine's keyed hashes

    assert main(["calibrate", str(decisions), "--max-flagged", "0"]) == 0
    strict = _settings(capsys.readouterr().out)
    assert strict["suspect_enter"] > max(highest.values()) or strict["suspect_enter"] == 1.0


def test_a_file_that_is_neither_format_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    assert main(["calibrate", str(bad)]) == 1
    assert "neither requests" in capsys.readouterr().err
