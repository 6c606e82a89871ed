"""What `guardgate serve` and `guardgate mock-upstream` check before they serve: a port they can
listen on, and a Redis that answers. Each failure is one line for the operator, not a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from urllib.parse import urlsplit, urlunsplit

__all__ = ["StartupError", "bind_listener", "describe_redis_failure", "ping_redis", "redacted_url"]


class StartupError(Exception):
    """guardgate cannot start; the message is one line that says what to fix."""


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (handed to uvicorn), or StartupError when the port
    is taken or the address cannot be used."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} is in use") from None
        if exc.errno == errno.EACCES:
            raise StartupError(f"port {port}: permission denied") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def redacted_url(url: str) -> str:
    """`url` without its password (a Redis URL may carry one)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def describe_redis_failure(exc: BaseException) -> str:
    """A few words on why Redis did not answer: connection refused, authentication failed,
    timed out, or the error's own first line."""
    from redis import exceptions

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    if f"error {errno.ECONNREFUSED} " in lowered:
        return "connection refused"
    if isinstance(
        exc, exceptions.AuthenticationError | exceptions.AuthenticationWrongNumberOfArgsError
    ):
        return "authentication failed"
    if isinstance(exc, exceptions.ResponseError) and ("noauth" in lowered or "auth" in lowered):
        return "authentication failed"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | exceptions.TimeoutError):
        return "timed out"
    if "refused" in lowered:
        return "connection refused"
    if "timeout" in lowered or "timed out" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host not found"
    return text


async def ping_redis(url: str, within: float) -> str | None:
    """PING the Redis at `url` within `within` seconds: None when it answered, else why not."""
    from guardgate.store.redis import close, connect

    try:
        client = connect(url, within)
    except Exception as exc:
        return describe_redis_failure(exc)
    try:
        async with asyncio.timeout(within):
            await client.ping()
    except Exception as exc:
        return describe_redis_failure(exc)
    finally:
        with contextlib.suppress(Exception):
            await close(client)
    return None
