"""Real Redis servers for the store tests: one standalone, one 3-node cluster, on free ports.

Never the machine's 6379: each server is started here and stopped at the end of the session.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis, RedisCluster

from guardgate.store import MemoryStore, RedisStore, Store, StoreLimits

StoreFactory = Callable[[StoreLimits], Store]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _free_bus_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = _free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _wait_ping(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        )
        if out.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} did not start")


def _start(port: int, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ping(port)
    except RuntimeError:
        _stop([proc])
        raise
    return proc


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Port of a standalone redis-server started for this session."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = _start(port, tmp_path_factory.mktemp("redis"))
    yield port
    _stop([proc])


@pytest.fixture(scope="session")
def cluster_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Port of one node of a 3-primary Redis Cluster started for this session."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    ports: list[int] = []
    while len(ports) < 3:
        port = _free_bus_port()
        if port not in ports:
            ports.append(port)
    procs = []
    try:
        for port in ports:
            workdir = tmp_path_factory.mktemp(f"cluster{port}")
            procs.append(
                _start(
                    port,
                    workdir,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(workdir / "nodes.conf"),
                    "--cluster-node-timeout",
                    "2000",
                )
            )
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            check=True,
            timeout=30,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = subprocess.run(
                ["redis-cli", "-p", str(ports[0]), "cluster", "info"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "cluster_state:ok" in info:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("redis cluster did not become ready")
        yield ports[0]
    finally:
        _stop(procs)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make_store(
    request: pytest.FixtureRequest,
) -> AsyncIterator[StoreFactory]:
    """Builds stores of one backend; each test gets its own key prefix, so no flushing."""
    clients: list[Redis | RedisCluster] = []
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    backend: str = request.param
    port = 0 if backend == "memory" else request.getfixturevalue(f"{backend}_port")

    def factory(limits: StoreLimits) -> Store:
        if backend == "memory":
            return MemoryStore(limits)
        client: Redis | RedisCluster
        if backend == "redis":
            client = Redis(port=port)
        else:
            client = RedisCluster(host="127.0.0.1", port=port)
        clients.append(client)
        return RedisStore(client, limits, prefix=prefix)

    yield factory
    for client in clients:
        await client.aclose()
