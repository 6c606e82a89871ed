"""`guardgate serve`: run the sidecar under uvicorn (optionally with the built-in mock upstream)."""

from __future__ import annotations

import argparse
import asyncio
import logging

import uvicorn

from guardgate.settings import load_settings

logger = logging.getLogger("guardgate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `guardgate serve`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument(
        "--mock-upstream",
        action="store_true",
        help="also run the built-in mock LLM upstream in this process and forward to it "
        "(a self-contained demo; GUARDGATE_UPSTREAM_URL is ignored)",
    )
    parser.add_argument(
        "--mock-port",
        type=int,
        default=8000,
        help="port of the mock upstream (with --mock-upstream)",
    )


def _config(app: object, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        # guardgate resolves client addresses itself, trusting only GUARDGATE_TRUSTED_PROXIES.
        proxy_headers=False,
        server_header=False,
        date_header=False,
        log_level="info",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    overrides: dict[str, object] = {}
    if args.mock_upstream:
        overrides["upstream_url"] = f"http://127.0.0.1:{args.mock_port}"
    settings = load_settings(**overrides)  # fails before anything starts on a bad variable

    from guardgate.sidecar import create_app

    servers = [uvicorn.Server(_config(create_app(settings), args.host, args.port))]
    if args.mock_upstream:
        from guardgate.testing import create_mock_upstream

        servers.append(uvicorn.Server(_config(create_mock_upstream(), "127.0.0.1", args.mock_port)))
        logger.info("mock upstream on http://127.0.0.1:%d", args.mock_port)
    logger.info(
        "guardgate sidecar on http://%s:%d -> %s (state: %s, mode: %s)",
        args.host,
        args.port,
        settings.upstream_url,
        "redis" if settings.redis_url else "memory",
        settings.mode.value,
    )

    async def serve_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    import uvloop

    uvloop.run(serve_all())
    return 0
