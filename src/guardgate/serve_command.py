"""`guardgate serve`: run the sidecar under uvicorn (optionally with the built-in mock upstream)."""

from __future__ import annotations

import argparse
import asyncio
import logging

import uvicorn

from guardgate.model import FailMode
from guardgate.settings import GuardgateSettings, load_settings
from guardgate.startup import StartupError, bind_listener, ping_redis, redacted_url

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


def _check_redis(settings: GuardgateSettings) -> None:
    """PING `GUARDGATE_REDIS_URL` once before serving. Unreachable, start-up stops (StartupError)
    when the fail mode is `closed`; when it is `open`, the failure is logged and the sidecar
    serves fail-open (its readiness answers 503 until Redis answers)."""
    if not settings.redis_url:
        return
    timeout = max(settings.redis_timeout, 2.0)
    problem = asyncio.run(ping_redis(settings.redis_url, timeout))
    if problem is None:
        return
    message = f"GUARDGATE_REDIS_URL {redacted_url(settings.redis_url)}: {problem}"
    if settings.fail_mode is FailMode.CLOSED:
        raise StartupError(message + " (GUARDGATE_FAIL_MODE=closed: not starting)")
    logger.error(
        "%s; serving anyway as GUARDGATE_FAIL_MODE=open (state is not shared, quotas are not "
        "enforced while it fails; /_guardgate/ready answers 503)",
        message,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    overrides: dict[str, object] = {}
    if args.mock_upstream:
        overrides["upstream_url"] = f"http://127.0.0.1:{args.mock_port}"
    settings = load_settings(**overrides)  # fails before anything starts on a bad variable
    # The ports are taken before anything else, so a busy one is one line, not a traceback.
    listener = bind_listener(args.host, args.port)
    sockets = [listener]
    try:
        if args.mock_upstream:
            sockets.append(bind_listener("127.0.0.1", args.mock_port))
        _check_redis(settings)
    except StartupError:
        for sock in sockets:
            sock.close()
        raise

    from guardgate.sidecar import create_app

    servers = [(uvicorn.Server(_config(create_app(settings), args.host, args.port)), listener)]
    if args.mock_upstream:
        from guardgate.testing import create_mock_upstream

        mock = uvicorn.Server(_config(create_mock_upstream(), "127.0.0.1", args.mock_port))
        servers.append((mock, sockets[1]))
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
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))

    import uvloop

    uvloop.run(serve_all())
    return 0
