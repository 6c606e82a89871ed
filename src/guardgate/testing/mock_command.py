"""`guardgate mock-upstream`: serve the deterministic mock LLM upstream with uvicorn."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from guardgate.startup import bind_listener
from guardgate.testing.mock_upstream import create_mock_upstream


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--host` and `--port` to the subcommand's parser."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def run(args: argparse.Namespace) -> int:
    """Serve the mock until interrupted; returns the exit code."""
    sock = bind_listener(args.host, args.port)  # a busy port: one line and status 2
    app = create_mock_upstream()
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
    return 0
