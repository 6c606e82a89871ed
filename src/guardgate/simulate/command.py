"""`guardgate simulate`: write labelled synthetic API traffic for replay and tuning."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from guardgate.simulate.config import SimulationConfig, parse_start
from guardgate.simulate.runner import simulate, summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument("--out", type=Path, required=True, help="traffic JSONL (replay format)")
    parser.add_argument("--labels", type=Path, required=True, help="labels JSONL, one per line")
    parser.add_argument("--days", type=float, default=7.0, help="span in days (default 7)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="population size multiplier (default 1.0)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--start",
        default="2026-11-02T00:00:00Z",
        help="ISO 8601 start of the span (default 2026-11-02T00:00:00Z)",
    )
    parser.add_argument(
        "--no-variants",
        action="store_true",
        help="keep every farm as designed instead of dealing its accounts over its adaptive "
        "variants (stream, burst, system, ...; see guardgate.simulate.adapt)",
    )
    parser.add_argument(
        "--release-at",
        default=None,
        help="ISO 8601 release time of frontier-2 (default: day 3, 17:00 UTC)",
    )


def run(args: argparse.Namespace) -> int:
    """Generate the files and print a summary; returns the exit code."""
    try:
        config = SimulationConfig(
            days=args.days,
            scale=args.scale,
            seed=args.seed,
            start=parse_start(args.start),
            release_at=parse_start(args.release_at) if args.release_at else None,
            variants=not args.no_variants,
        )
    except ValueError as exc:
        print(f"guardgate simulate: {exc}")
        return 2
    began = time.monotonic()
    result = simulate(config, args.out, args.labels)
    print(summary(result, config))
    print(f"wrote {args.out} and {args.labels} in {time.monotonic() - began:.1f} s")
    return 0
