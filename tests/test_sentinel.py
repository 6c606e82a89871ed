"""A deployment on Redis Sentinel (`redis+sentinel://`): every part (linking, scoring, overrides,
quotas, readiness) works on the master the sentinel names, through one pool. A real redis-server
and a real sentinel, a real sidecar in front of the mock upstream."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from tests.gateway import running_mock, running_sidecar

from guardgate.testing import free_port, running_redis

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@contextmanager
def running_sentinel(master_port: int, workdir: Path) -> Iterator[int]:
    port = free_port()
    config = workdir / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\nsentinel monitor main 127.0.0.1 {master_port} 1\n"
    )
    binary = shutil.which("redis-server")
    assert binary is not None
    process = subprocess.Popen(
        [binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=port) as client:
                    if client.sentinel_get_master_addr_by_name("main"):
                        break
            except redis.RedisError:
                pass
            time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait(5)


def test_a_sidecar_on_sentinel_keeps_its_state_on_the_master(tmp_path: Path) -> None:
    with (
        running_redis() as master,
        running_sentinel(master.port, tmp_path) as sentinel,
        running_mock() as upstream,
        running_sidecar(
            upstream.url,
            redis_url=f"redis+sentinel://127.0.0.1:{sentinel}/main",
            account_rpm=2,
        ) as gate,
    ):
        auth = {"authorization": "Bearer sk-sentinel"}
        body = {"model": "gpt-x", "messages": [{"role": "user", "content": "What is 2+2?"}]}
        codes = [
            httpx.post(gate.url + "/v1/chat/completions", json=body, headers=auth).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]  # the quota counts on the master
        ready = httpx.get(gate.url + "/_guardgate/ready").json()
        assert ready["checks"]["redis"] == "ok"
        with redis.Redis(port=master.port) as client:
            keys = {k.decode() for k in client.keys("*")}
    assert any(k.startswith("{guardgate:link}") for k in keys)
    assert any(k.startswith("{guardgate:score}") for k in keys)
    assert any("guardgate:quota" in k for k in keys)
