"""`guardgate mock-upstream`: serve the deterministic mock LLM upstream with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from guardgate.testing.mock_upstream import create_mock_upstream


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--host` and `--port` to the subcommand's parser."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def run(args: argparse.Namespace) -> int:
    """Serve the mock until interrupted; returns the exit code."""
    uvicorn.run(create_mock_upstream(), host=args.host, port=args.port, log_level="info")
    return 0
