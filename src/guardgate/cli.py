"""The `guardgate` command: a thin layer over the package's entry points.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`,
imported only when that subcommand runs so that `guardgate serve` stays light.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from guardgate.settings import SettingsError
from guardgate.startup import StartupError

_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("guardgate.serve_command", "run the sidecar reverse proxy in front of an upstream"),
    "mock-upstream": ("guardgate.testing.mock_command", "run the built-in mock LLM upstream"),
    "replay": ("guardgate.replay", "run logged requests through the engine"),
    "simulate": ("guardgate.simulate.command", "generate labelled synthetic API traffic"),
    "calibrate": ("guardgate.calibrate", "choose tier thresholds that fit your own traffic"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one subcommand; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="guardgate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sp)
            sp.set_defaults(_run=module.run)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args._run(args)
    except (SettingsError, StartupError) as exc:
        print(f"guardgate: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
