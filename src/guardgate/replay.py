"""`guardgate replay FILE [--decisions OUT]`: logged requests through the live engine.

Each input line is one request: `{"ts": <unix seconds>, "ip": "...", "method": "POST", "path":
"/v1/...", "headers": {...}, "body": {...}}`. Each request takes the same `Gate.admit` as live
traffic (detection, overrides, policy, quotas with the prompt tokens counted), with the record's
`ts` as the clock, so a replay decides what the sidecar decided on the same requests at the same
times. Settings come from the environment as for `serve` (state in memory unless
`GUARDGATE_REDIS_URL` is set). Background work (re-clustering) is waited for after the request
that started it, so a replay gives the same decisions every time. A line may carry its answer's
usage as the upstream reported it (`"usage": {"completion_tokens": N, "prompt_tokens": N}`):
a token quota is then charged it as the sidecar charged it; without one, the prompt only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest
from guardgate.model import Decision, Tier
from guardgate.protocols.endpoints import api_for_path
from guardgate.records import record
from guardgate.settings import GuardgateSettings, load_settings
from guardgate.usage import Usage

_NO_ANSWER = Usage(0)
"""A replayed request's answer when the log does not say what it cost."""

REPLAY_SECRET = "guardgate-replay-fixed-key-v1"
"""The HMAC key replay uses when `GUARDGATE_SECRET` is unset, so that two replays of one file
give the same account ids (and so comparable decisions files). Set `GUARDGATE_SECRET` to your
servers' key to get the account ids they log."""


class MalformedLine(ValueError):
    """A replay line that is not one request in the replay format."""


@record
class ReplayRecord:
    """One parsed replay line."""

    ts: float
    ip: str
    path: str
    headers: list[tuple[bytes, bytes]]
    body: dict[str, Any]
    usage: Usage | None = None
    """The answer's usage, when the log has it."""


def _loads(text: str | bytes) -> Any:
    """The JSON value of a line, read as the live door reads a request body (orjson: several
    times faster than the json module on agent traffic's long bodies; an integer beyond 64 bits
    becomes a float, as it does there). What orjson refuses and the json module reads (a lone
    surrogate escape, NaN, UTF-16) is read as before, and a malformed line reported in the json
    module's words."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def parse_line(text: str | bytes) -> ReplayRecord:
    """Parse one line; raises `MalformedLine` saying what is wrong."""
    try:
        data = _loads(text)
    except ValueError as exc:
        raise MalformedLine(f"not JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise MalformedLine("not a JSON object")
    ts = data.get("ts")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        raise MalformedLine("'ts' must be a number (unix seconds)")
    path = data.get("path")
    if not isinstance(path, str):
        raise MalformedLine("'path' must be a string")
    headers = data.get("headers", {})
    if not isinstance(headers, dict):
        raise MalformedLine("'headers' must be an object")
    body = data.get("body")
    if not isinstance(body, dict):
        raise MalformedLine("'body' must be a JSON object")
    ip = data.get("ip", "")
    if not isinstance(ip, str):
        raise MalformedLine("'ip' must be a string")
    names = _HEADER_NAMES
    pairs = []
    for key, value in headers.items():
        name = names.get(key)
        if name is None:
            name = _header_name(key)
        pairs.append(
            (name, value.encode("latin-1", "replace") if type(value) is str else _header(value))
        )
    return ReplayRecord(float(ts), ip, path, pairs, body, _usage(data.get("usage")))


_HEADER_NAMES: dict[str, bytes] = {}
"""Header names as ASGI bytes, by their name in the log: a log repeats a few dozen names on every
line (bounded, for a log whose names never repeat)."""
_HEADER_NAMES_MAX = 4096


def _header_name(key: str) -> bytes:
    name = key.lower().encode("latin-1", "replace")
    if len(_HEADER_NAMES) >= _HEADER_NAMES_MAX:
        _HEADER_NAMES.clear()
    _HEADER_NAMES[key] = name
    return name


def _usage(value: Any) -> Usage | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedLine("'usage' must be an object")
    completion, prompt = value.get("completion_tokens", 0), value.get("prompt_tokens")
    if not isinstance(completion, int) or not isinstance(prompt, int | None):
        raise MalformedLine("'usage' token counts must be integers")
    return Usage(completion, prompt, reported=True)


def _body_bytes(body: dict[str, Any]) -> bytes:
    """The request body as a door would have received it; the standard library for what orjson
    cannot write (a lone surrogate, an integer beyond 64 bits), which `_loads` let in."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(body).encode()


def _header(value: Any) -> bytes:
    return (value if isinstance(value, str) else json.dumps(value)).encode("latin-1", "replace")


@dataclass(slots=True)
class ReplaySummary:
    """What a replay saw and decided."""

    requests: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)
    tiers: Counter[str] = field(default_factory=Counter)
    """Requests per tier."""
    accounts: dict[str, tuple[str, float, str, tuple[str, ...]]] = field(default_factory=dict)
    """Account -> (highest tier, highest score, cluster, reasons at that score)."""
    clusters: dict[str, set[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self, decision: Decision) -> None:
        """Count one decided request."""
        v = decision.verdict
        self.requests += 1
        self.tiers[v.tier.value] += 1
        best = self.accounts.get(v.account)
        if best is None or v.score > best[1]:
            self.accounts[v.account] = (v.tier.value, v.score, v.cluster, v.reasons)
        if v.cluster_size > 1:
            self.clusters.setdefault(v.cluster, set()).add(v.account)


_FLAGGED = {Tier.SUSPECT.value, Tier.EXTRACTOR.value, Tier.BLOCKED.value}


def decision_line(line: int, decision: Decision) -> str:
    """The `--decisions` JSON line of one request (compact JSON, UTF-8 text)."""
    v = decision.verdict
    return orjson.dumps(
        {
            "line": line,
            "status": decision.reject_status or 200,
            "account": v.account,
            "cluster": v.cluster,
            "score": round(v.score, 4),
            "tier": v.tier.value,
            "reasons": v.reasons,
            "actions": decision.actions,
        }
    ).decode()


async def replay(
    source: IO[bytes],
    *,
    deployment: Deployment,
    clock: list[float],
    decisions: IO[str] | None = None,
    progress: IO[str] | None = None,
    total_bytes: int = 0,
) -> ReplaySummary:
    """Run every line of `source` through the deployment's gate; `clock[0]` is its clock."""
    summary = ReplaySummary()
    started = time.perf_counter()
    gate = deployment.gate
    detection = deployment.detection
    prefix = deployment.settings.path_prefix
    done_bytes = 0
    await deployment.start()
    try:
        for number, raw in enumerate(source):
            done_bytes += len(raw)
            if not raw or raw.isspace():  # `isspace`: no stripped copy of every line
                summary.malformed.append((number, "empty line"))
                continue
            try:
                record = parse_line(raw)
                api = api_for_path(record.path, prefix)
                if api is None:
                    raise MalformedLine(f"path {record.path[:80]!r} is not an LLM endpoint")
            except MalformedLine as exc:
                summary.malformed.append((number, str(exc)))
                continue
            clock[0] = record.ts
            request = GateRequest(
                api, record.headers, record.ip, _body_bytes(record.body), record.body
            )
            # No concurrent-stream lease: a replayed request has no answer to wait for.
            admission = await gate.admit(request, hold_stream=False)
            await gate.settle(admission, record.usage or _NO_ANSWER)
            await detection.drain()
            decision = admission.decision
            summary.record(decision)
            if decisions is not None:
                decisions.write(decision_line(number, decision) + "\n")
            if progress is not None and number % 2000 == 0:
                _bar(progress, done_bytes, total_bytes, summary.requests, started)
    finally:
        await deployment.close()
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        _bar(progress, total_bytes or done_bytes, total_bytes, summary.requests, started)
        progress.write("\n")
    return summary


def replay_settings(command: str) -> GuardgateSettings:
    """The settings a replay runs with: the environment's, with inline detection; without
    `GUARDGATE_SECRET`, the fixed replay key, so that two replays give the same account ids."""
    if os.environ.get("GUARDGATE_SECRET"):
        return load_settings(detection="inline")
    # A random key would give other account ids on every run: replays must be comparable.
    print(
        f"{command}: GUARDGATE_SECRET is not set: account ids use the fixed replay key "
        "(the same on every replay, not the ids your servers log)",
        file=sys.stderr,
    )
    return load_settings(detection="inline", secret=REPLAY_SECRET)


def _bar(out: IO[str], done: int, total: int, requests: int, started: float) -> None:
    elapsed = max(1e-9, time.perf_counter() - started)
    rate = requests / elapsed
    share = min(1.0, done / total) if total else 0.0
    filled = int(30 * share)
    eta = f" ETA {_duration(elapsed * (1 - share) / share)}" if 0 < share < 1 else ""
    out.write(
        f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} {requests} req {rate:,.0f}/s{eta}  "
    )
    out.flush()


def _duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`."""
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


_TIER_RANK = {"trusted": -1, "normal": 0, "suspect": 1, "extractor": 2, "blocked": 3}


def _cluster_lines(summary: ReplaySummary, top: int) -> list[str]:
    """One line per cluster of 2+ accounts, the most suspicious first: its id, members, the
    highest tier and score a member reached, and the reasons its members share most."""
    rows = []
    for cluster, members in summary.clusters.items():
        best = [summary.accounts[a] for a in members if a in summary.accounts]
        if not best:
            continue
        tier = max((b[0] for b in best), key=lambda t: _TIER_RANK.get(t, 0))
        score = max(b[1] for b in best)
        reasons = Counter(r for b in best for r in b[3])
        rows.append((_TIER_RANK.get(tier, 0), score, cluster, len(members), tier, reasons))
    rows.sort(key=lambda row: (-row[0], -row[1], row[2]))
    lines = ["clusters of 2+, most suspicious first:"] if rows else []
    for _rank, score, cluster, size, tier, reasons in rows[:top]:
        common = "; ".join(reason for reason, _ in reasons.most_common(3)) or "-"
        lines.append(f"  {cluster} {size} accounts {tier:9s} max {score:.2f}: {common}")
    if len(rows) > top:
        lines.append(f"  ... and {len(rows) - top} more (see --decisions)")
    return lines


def format_summary(summary: ReplaySummary, top: int = 20) -> str:
    """The human-readable summary printed at the end."""
    flagged = sorted(
        ((a, t) for a, t in summary.accounts.items() if t[0] in _FLAGGED),
        key=lambda kv: -kv[1][1],
    )
    rate = summary.requests / summary.seconds if summary.seconds else 0.0
    lines = [
        f"requests: {summary.requests} in {summary.seconds:.1f} s ({rate:,.0f}/s); "
        f"malformed lines: {len(summary.malformed)}",
        f"accounts: {len(summary.accounts)}; clusters of 2+: {len(summary.clusters)} "
        f"(largest {max((len(m) for m in summary.clusters.values()), default=0)})",
        "requests by tier: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.tiers.items())),
        *_cluster_lines(summary, top),
        f"flagged accounts: {len(flagged)}",
    ]
    for account, (tier, score, cluster, reasons) in flagged[:top]:
        where = f" cluster {cluster}" if cluster != account else ""
        lines.append(f"  {account[:16]} {tier:9s} {score:.2f}{where}: {'; '.join(reasons)}")
    if len(flagged) > top:
        lines.append(f"  ... and {len(flagged) - top} more (see --decisions)")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `replay` subcommand's arguments."""
    parser.add_argument("file", type=Path, help="JSON lines, one request each ('-' for stdin)")
    parser.add_argument(
        "--decisions", type=Path, help="write one JSON decision per input line here"
    )
    parser.add_argument("--top", type=int, default=20, help="flagged accounts to list")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Replay the file and print the summary; 0 on success, 1 if the file cannot be read."""
    logging.getLogger("guardgate").setLevel(logging.WARNING)
    # Replay judges each request with the engine in this process, in order: a detector process
    # would answer with verdicts that lag by however far it happens to be behind.
    settings = replay_settings("guardgate replay")
    clock = [0.0]
    # No admin API in a replay: its activity record would be kept for nobody.
    deployment = Deployment.from_settings(settings, lambda: clock[0], admin=False)
    try:
        source: IO[bytes] = (
            sys.stdin.buffer if str(args.file) == "-" else open(args.file, "rb")  # noqa: SIM115
        )
    except OSError as exc:
        print(f"guardgate replay: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    total = os.fstat(source.fileno()).st_size if source is not sys.stdin.buffer else 0
    progress = sys.stderr if sys.stderr.isatty() and not args.quiet else None
    out = open(args.decisions, "w", encoding="utf-8") if args.decisions else None  # noqa: SIM115
    try:
        summary = asyncio.run(
            replay(
                source,
                deployment=deployment,
                clock=clock,
                decisions=out,
                progress=progress,
                total_bytes=total,
            )
        )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        if out is not None:
            out.close()
    print(format_summary(summary, args.top))
    for number, why in summary.malformed:
        print(f"guardgate replay: line {number + 1} skipped: {why}", file=sys.stderr)
    return 0
