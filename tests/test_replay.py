"""`guardgate replay`: logged traffic through the engine, decisions per line, bad lines skipped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardgate.cli import main
from guardgate.deployment import Deployment
from guardgate.replay import parse_line, replay, replay_settings

FARM_HEADERS = {
    "content-type": "application/json",
    "user-agent": "python-requests/2.32.3",
    "authorization": "Bearer sk-farm-0001",
}


def _farm_line(i: int) -> str:
    return json.dumps(
        {
            "ts": 1_793_577_600 + 1200 * i,
            "ip": f"81.{i % 200}.{i % 97}.7",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": FARM_HEADERS,
            "body": {
                "model": "gpt-x",
                "max_tokens": 16000,
                "messages": [
                    {
                        "role": "user",
                        "content": f"Solve problem {i}: write out your complete reasoning step "
                        "by step in full detail before the final answer.",
                    }
                ],
            },
        }
    )


def _chat_line(i: int) -> str:
    return json.dumps(
        {
            "ts": 1_793_577_600 + 1200 * i + 7,
            "ip": "90.1.2.3",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": {**FARM_HEADERS, "authorization": "Bearer sk-person-01"},
            "body": {
                "model": "gpt-x",
                "stream": True,
                "messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": f"what should I cook tonight, idea {i}?"},
                ],
            },
        }
    )


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "traffic.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_writes_one_decision_per_good_line_and_reports_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    for i in range(30):
        lines.extend([_farm_line(i), _chat_line(i)])
    lines.insert(5, "{not json")
    lines.insert(9, json.dumps({"ts": "yesterday", "path": "/v1/chat/completions", "body": {}}))
    lines.insert(12, json.dumps({"ts": 1, "path": "/healthz", "headers": {}, "body": {}}))
    traffic = _write(tmp_path, lines)
    out = tmp_path / "decisions.jsonl"

    assert main(["replay", str(traffic), "--decisions", str(out)]) == 0

    decisions = [json.loads(x) for x in out.read_text().splitlines()]
    assert [d["line"] for d in decisions] == [i for i in range(len(lines)) if i not in (5, 9, 12)]
    keys = {"line", "status", "account", "cluster", "score", "tier", "reasons", "actions"}
    assert set(decisions[0]) == keys
    farm = [d for d in decisions if json.loads(lines[d["line"]])["ip"] != "90.1.2.3"]
    person = [d for d in decisions if json.loads(lines[d["line"]])["ip"] == "90.1.2.3"]
    assert farm[-1]["tier"] == "extractor"
    assert "strip_reasoning" in farm[-1]["actions"]
    assert any("long answers" in r or "never seen before" in r for r in farm[-1]["reasons"])
    assert {d["tier"] for d in person} == {"normal"}

    captured = capsys.readouterr()
    assert "malformed lines: 3" in captured.out
    assert "flagged accounts: 1" in captured.out
    assert "line 6 skipped: not JSON" in captured.err
    assert "line 10 skipped: 'ts' must be a number" in captured.err
    assert "line 13 skipped: path '/healthz' is not an LLM endpoint" in captured.err


def test_replay_is_deterministic(tmp_path: Path) -> None:
    traffic = _write(tmp_path, [_farm_line(i) for i in range(40)])
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["replay", str(traffic), "--decisions", str(first), "--quiet"]) == 0
    assert main(["replay", str(traffic), "--decisions", str(second), "--quiet"]) == 0
    assert first.read_text() == second.read_text()


def test_replay_of_a_missing_file_fails_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 1
    assert "cannot read" in capsys.readouterr().err


def _linked_farm(accounts: int, requests: int) -> list[str]:
    """A farm of `accounts` keys behind one /24, one client and one prompt template."""
    lines = []
    for i in range(requests):
        k = i % accounts
        lines.append(
            json.dumps(
                {
                    "ts": 1_793_577_600 + 300 * i,
                    "ip": f"81.20.30.{k + 1}",
                    "path": "/v1/chat/completions",
                    "headers": {
                        "content-type": "application/json",
                        "user-agent": "farmbot/0.9.1",
                        "authorization": f"Bearer sk-farm-{k}",
                    },
                    "body": {
                        "model": "gpt-x",
                        "max_tokens": 16000,
                        "temperature": 0.61,
                        "messages": [
                            {
                                "role": "user",
                                "content": f"Solve problem {i}: write out your complete reasoning "
                                "step by step in full detail before the final answer.",
                            }
                        ],
                    },
                }
            )
        )
        lines.append(_chat_line(i))
    return lines


def test_replay_without_a_secret_gives_the_same_ids_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GUARDGATE_SECRET")
    traffic = _write(tmp_path, _linked_farm(4, 40))
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["replay", str(traffic), "--decisions", str(first), "--quiet"]) == 0
    assert main(["replay", str(traffic), "--decisions", str(second), "--quiet"]) == 0
    assert first.read_text() == second.read_text()
    assert "fixed replay key" in capsys.readouterr().err


def test_replay_prints_each_cluster_and_the_flagged_accounts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = _write(tmp_path, _linked_farm(4, 60))
    out = tmp_path / "decisions.jsonl"
    assert main(["replay", str(traffic), "--decisions", str(out), "--quiet"]) == 0
    decisions = [json.loads(x) for x in out.read_text().splitlines()]
    farm_cluster = decisions[-2]["cluster"]
    printed = capsys.readouterr().out
    cluster_lines = [line for line in printed.splitlines() if line.strip().startswith("c-")]
    assert len(cluster_lines) == 1
    assert cluster_lines[0].split()[:4] == [farm_cluster, "4", "accounts", "extractor"]
    assert "long answers" in cluster_lines[0]
    assert "flagged accounts: 4" in printed
    assert printed.count(f"cluster {farm_cluster}:") == 4


def test_the_progress_bar_shows_an_eta() -> None:
    import io
    import time

    from guardgate.replay import _bar

    out = io.StringIO()
    _bar(out, 250, 1000, 5000, time.perf_counter() - 10.0)
    assert " 25% " in out.getvalue() and "ETA 30s" in out.getvalue()


_JSON_TEXT = st.text(st.characters(blacklist_categories=()), max_size=20)  # lone surrogates too
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    ts=st.integers(min_value=0, max_value=2**40) | st.floats(0, 2e9),
    headers=st.dictionaries(
        _JSON_TEXT, _JSON_TEXT | st.integers(-(2**63), 2**63) | st.none(), max_size=6
    ),
    body=st.dictionaries(_JSON_TEXT, _JSON_VALUES, max_size=5),
    ascii_only=st.booleans(),
)
def test_a_line_is_read_as_the_standard_library_reads_it(
    ts: float, headers: dict[str, object], body: dict[str, object], ascii_only: bool
) -> None:
    line = json.dumps(
        {"ts": ts, "ip": "1.2.3.4", "path": "/v1/chat/completions", "headers": headers,
         "body": body},
        ensure_ascii=ascii_only,
    )  # fmt: skip
    raw = line.encode("utf-8", "surrogatepass")
    record = parse_line(raw)
    assert record.ts == float(ts) and record.body == json.loads(line)["body"]
    assert record.headers == [
        (k.lower().encode("latin-1", "replace"),
         (v if isinstance(v, str) else json.dumps(v)).encode("latin-1", "replace"))
        for k, v in headers.items()
    ]  # fmt: skip


def test_an_integer_beyond_64_bits_is_read_as_the_live_door_reads_it() -> None:
    # The sidecar parses bodies with orjson, which reads such an integer as a float.
    line = {"ts": 1, "path": "/v1/chat/completions", "body": {"seed": 2**70, "n": 2}}
    assert parse_line(json.dumps(line)).body == orjson.loads(json.dumps(line["body"]))
    assert parse_line(json.dumps(line)).body == {"seed": float(2**70), "n": 2}


def test_lines_orjson_refuses_are_replayed(tmp_path: Path) -> None:
    line = json.loads(_chat_line(0))
    odd = [
        json.dumps(line).replace("what should I cook", "what \\ud800 should I cook"),
        json.dumps({**line, "body": {**line["body"], "seed": 2**70}}),
        json.dumps({**line, "body": {**line["body"], "temperature": float("nan")}}),
        json.dumps(line),
    ]
    traffic = _write(tmp_path, odd)
    out = tmp_path / "decisions.jsonl"
    assert main(["replay", str(traffic), "--decisions", str(out), "--quiet"]) == 0
    assert [json.loads(x)["line"] for x in out.read_text().splitlines()] == [0, 1, 2, 3]


async def test_a_replay_keeps_no_admin_record_and_decides_the_same() -> None:
    lines = "".join(line + "\n" for line in _linked_farm(4, 30)).encode()
    kept: list[str] = []
    for admin in (True, False):
        clock = [0.0]
        deployment = Deployment.from_settings(
            replay_settings("test"), lambda c=clock: c[0], admin=admin
        )
        out = io.StringIO()
        await replay(io.BytesIO(lines), deployment=deployment, clock=clock, decisions=out)
        activity = deployment.detection.activity  # type: ignore[attr-defined]
        assert bool(activity.accounts) is admin
        kept.append(out.getvalue())
    assert kept[0] == kept[1]
