"""`guardgate calibrate LOGS.jsonl --max-flagged 0.001`: tier thresholds for an operator's traffic.

The input is either requests in the replay format (they are run through the engine first, as by
`guardgate replay`) or a decisions log (`guardgate replay --decisions` output). Each account's
highest score over the log decides whether a threshold flags it: scores do not depend on the
thresholds, so the thresholds that flag at most a share `q` of the accounts are read off the
sorted highest scores. All four thresholds move together by the same step in log-odds, so the
hysteresis the defaults keep (enter above, leave below) is kept; they are never set below the
configured ones unless `--allow-lower` is given (calibrating on a quiet week should not make the
detector more eager than it was designed to be).

It prints the `GUARDGATE_SCORING_*` lines to set and the accounts still above the thresholds with
their reasons (account ids are the keyed hashes the engine logs, never raw keys).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, cast

from guardgate.records import record
from guardgate.scoring.factory import ScoringConfig
from guardgate.scoring.tiers import TierThresholds
from guardgate.settings import load_settings

_STEP = 1e-4
"""Decisions logs round scores to four decimals: thresholds are chosen on that grid."""


class CalibrationError(ValueError):
    """A log calibrate cannot use (empty, or neither requests nor decisions)."""


@record
class AccountPeak:
    """The highest score one account reached, and what the engine said then."""

    account: str
    score: float
    requests: int
    cluster: str
    reasons: tuple[str, ...]


@record
class Calibration:
    """Thresholds chosen for a log, and what they flag."""

    thresholds: TierThresholds
    accounts: int
    flagged: tuple[AccountPeak, ...]
    """Accounts whose highest score reaches `suspect_enter`, highest first."""
    needed: float
    """The `suspect_enter` the budget alone asks for (before the floor of the configured one)."""
    saturated: bool
    """True when more accounts than the budget allows score so high that no threshold at or
    below 1 separates them: the thresholds then flag more than asked."""


def peaks(decisions: Iterable[dict[str, Any]]) -> list[AccountPeak]:
    """Each account's highest-scoring decision, from decision records in log order."""
    best: dict[str, AccountPeak] = {}
    counts: dict[str, int] = {}
    for d in decisions:
        account = str(d["account"])
        counts[account] = counts.get(account, 0) + 1
        score = float(d["score"])
        known = best.get(account)
        if known is None or score > known.score:
            best[account] = AccountPeak(
                account=account,
                score=score,
                requests=0,
                cluster=str(d.get("cluster", account)),
                reasons=tuple(str(r) for r in d.get("reasons", ())),
            )
    return [
        AccountPeak(p.account, p.score, counts[a], p.cluster, p.reasons) for a, p in best.items()
    ]


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def shifted(base: TierThresholds, suspect_enter: float) -> TierThresholds:
    """`base` with `suspect_enter` moved to the value given and the three others moved by the
    same step in log-odds (rounded up to the four-decimal grid, at most 1)."""
    if suspect_enter == base.suspect_enter:
        return base
    step = _logit(suspect_enter) - _logit(base.suspect_enter)

    def move(t: float) -> float:
        if t >= 1.0:
            return 1.0
        return min(1.0, math.ceil(_sigmoid(_logit(t) + step) / _STEP) * _STEP)

    extractor_enter = max(move(base.extractor_enter), suspect_enter)
    return TierThresholds(
        suspect_enter=suspect_enter,
        suspect_exit=min(move(base.suspect_exit), suspect_enter),
        extractor_enter=extractor_enter,
        extractor_exit=min(
            max(move(base.extractor_exit), move(base.suspect_exit)), extractor_enter
        ),
        hold=base.hold,
    )


def calibrate(
    found: list[AccountPeak],
    max_flagged: float,
    base: TierThresholds,
    *,
    allow_lower: bool = False,
) -> Calibration:
    """The thresholds that flag at most `max_flagged` of the accounts in `found`."""
    if not found:
        raise CalibrationError("the log has no requests with an account")
    ranked = sorted(found, key=lambda p: (-p.score, p.account))
    allowed = math.floor(max_flagged * len(ranked) + 1e-9)
    saturated = False
    if allowed >= len(ranked):
        needed = 0.0
    else:
        # Just above the highest score of the first account that must stay unflagged.
        # (rounded to the grid first: 0.9994 / 0.0001 is 9993.999..., and flooring it gave the
        # tied score itself, which flagged every account tied there)
        needed = round((round(ranked[allowed].score / _STEP) + 1) * _STEP, 4)
        if needed > 1.0:
            needed, saturated = 1.0, True
    needed = round(needed, 4)
    enter = needed if allow_lower else max(needed, base.suspect_enter)
    thresholds = shifted(base, enter)
    flagged = tuple(p for p in ranked if p.score >= thresholds.suspect_enter)
    return Calibration(thresholds, len(ranked), flagged, needed, saturated)


def read_log(source: IO[bytes]) -> list[AccountPeak]:
    """Account peaks from a decisions log or from requests in the replay format (replayed)."""
    first = source.readline()
    while first and not first.strip():
        first = source.readline()
    if not first:
        raise CalibrationError("the log is empty")
    try:
        head = json.loads(first)
    except ValueError:
        raise CalibrationError("the first line is not JSON") from None
    if not isinstance(head, dict):
        raise CalibrationError("the first line is not a JSON object")
    if {"account", "score", "tier"} <= head.keys():
        return peaks(_decisions(first, source))
    if {"ts", "path", "body"} <= head.keys():
        return peaks(_replayed(first, source))
    raise CalibrationError(
        "lines are neither requests in the replay format (ts, path, body) nor decisions "
        "(account, score, tier) from `guardgate replay --decisions`"
    )


def _decisions(first: bytes, rest: IO[bytes]) -> Iterable[dict[str, Any]]:
    yield json.loads(first)
    for raw in rest:
        if raw.strip():
            yield json.loads(raw)


class _Sink(io.StringIO):
    """Keeps the decisions a replay writes, parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def write(self, text: str, /) -> int:
        line = text.strip()
        if line:
            self.rows.append(json.loads(line))
        return len(text)


def _replayed(first: bytes, rest: IO[bytes]) -> list[dict[str, Any]]:
    from guardgate.deployment import Deployment
    from guardgate.replay import replay, replay_settings

    clock = [0.0]
    deployment = Deployment.from_settings(
        replay_settings("guardgate calibrate"), lambda: clock[0], admin=False
    )
    sink = _Sink()
    lines = _Chain(first, rest)
    summary = asyncio.run(
        replay(cast(IO[bytes], lines), deployment=deployment, clock=clock, decisions=sink)
    )
    for number, why in summary.malformed:
        print(f"guardgate calibrate: line {number + 1} skipped: {why}", file=sys.stderr)
    return sink.rows


class _Chain(io.RawIOBase):
    """A first line already read, then the rest of a file, as one iterable of lines."""

    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._first: bytes | None = first
        self._rest = rest

    def __iter__(self) -> _Chain:
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            line, self._first = self._first, None
            return line
        line = self._rest.readline()
        if not line:
            raise StopIteration
        return line


def format_calibration(result: Calibration, max_flagged: float, top: int) -> str:
    """The report: the settings to use, then the accounts above them."""
    t = result.thresholds
    share = len(result.flagged) / result.accounts
    lines = [
        f"accounts: {result.accounts}; at most {max_flagged:.4%} may be flagged "
        f"({math.floor(max_flagged * result.accounts + 1e-9)} accounts)",
        f"the budget alone asks for suspect_enter >= {result.needed:.4f}",
    ]
    if result.saturated:
        lines.append(
            "more accounts than that score the highest score possible: no threshold separates "
            "them (look at their reasons below; raise weights' evidence or use overrides)"
        )
    lines += [
        f"flagged at these thresholds: {len(result.flagged)} accounts ({share:.4%})",
        "",
        f"GUARDGATE_SCORING_SUSPECT_ENTER={t.suspect_enter:.4f}",
        f"GUARDGATE_SCORING_SUSPECT_EXIT={t.suspect_exit:.4f}",
        f"GUARDGATE_SCORING_EXTRACTOR_ENTER={t.extractor_enter:.4f}",
        f"GUARDGATE_SCORING_EXTRACTOR_EXIT={t.extractor_exit:.4f}",
        "",
    ]
    if result.flagged:
        lines.append("accounts above these thresholds (highest score first):")
        for p in result.flagged[:top]:
            where = f" cluster {p.cluster}" if p.cluster != p.account else ""
            lines.append(
                f"  {p.account[:16]} {p.score:.4f} over {p.requests} requests{where}: "
                + ("; ".join(p.reasons) or "(no reasons logged)")
            )
        if len(result.flagged) > top:
            lines.append(f"  ... and {len(result.flagged) - top} more")
    else:
        lines.append("no account reaches these thresholds")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `calibrate` subcommand's arguments."""
    parser.add_argument(
        "file",
        type=Path,
        help="requests in the replay format, or a `guardgate replay --decisions` log",
    )
    parser.add_argument(
        "--max-flagged",
        type=float,
        default=0.001,
        help="largest share of accounts the thresholds may flag (default 0.001)",
    )
    parser.add_argument(
        "--allow-lower",
        action="store_true",
        help="allow thresholds below the configured ones",
    )
    parser.add_argument("--top", type=int, default=50, help="flagged accounts to list")


def run(args: argparse.Namespace) -> int:
    """Calibrate and print; 1 if the file cannot be read or used."""
    logging.getLogger("guardgate").setLevel(logging.WARNING)
    if not 0.0 <= args.max_flagged < 1.0:
        print("guardgate calibrate: --max-flagged must be in [0, 1)", file=sys.stderr)
        return 1
    base = ScoringConfig.from_settings(load_settings()).thresholds()
    try:
        with open(args.file, "rb") as source:
            found = read_log(source)
        result = calibrate(found, args.max_flagged, base, allow_lower=args.allow_lower)
    except OSError as exc:
        print(f"guardgate calibrate: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except (CalibrationError, ValueError, KeyError) as exc:
        print(f"guardgate calibrate: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(format_calibration(result, args.max_flagged, args.top))
    return 0
