"""Redis killed and restarted while a sidecar is under load: failing open nobody sees an error,
failing closed only the outage answers 503; both recover by themselves, and no raw key ever lands
in Redis or in a log record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis
from tests.faults.sidecars import observed_sidecar
from tests.gateway import running_mock

from guardgate.testing import ServerThread
from guardgate.testing.redis_server import RedisServer, running_redis

KEYS = [f"sk-outage-{i:03d}-SECRETKEYMATERIAL" for i in range(20)]
CHAT = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def mock() -> Iterator[ServerThread]:
    with running_mock() as server:
        yield server


class LogCapture(logging.Handler):
    """Every record at every level, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore")):
            return  # the test's own HTTP client, not the gateway
        self.lines.append(logging.Formatter().format(record))


@pytest.fixture()
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)
    yield capture
    root.removeHandler(capture)
    root.setLevel(level)


async def _load(url: str, seconds: float, statuses: Counter[int]) -> None:
    """20 clients, each sending requests back to back for `seconds`, half of them streams."""
    deadline = time.monotonic() + seconds

    async def client(i: int) -> None:
        headers = {"authorization": f"Bearer {KEYS[i]}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
            while time.monotonic() < deadline:
                r = await http.post("/v1/chat/completions", json={**CHAT, "stream": i % 2 == 0})
                statuses[r.status_code] += 1
                if r.status_code == 200 and i % 2 == 0:
                    assert r.text.rstrip().endswith("data: [DONE]")

    await asyncio.gather(*(client(i) for i in range(len(KEYS))))


async def _outage(
    url: str, server: RedisServer, after: float, length: float, during: Counter[int]
) -> None:
    """Redis stopped `after` seconds in and started again `length` seconds later; meanwhile 20
    more clients send requests (`during` counts their answers; a client that starts past
    `length` on a loaded machine sends none)."""
    await asyncio.sleep(after)
    await asyncio.to_thread(server.stop)
    await _load(url, length, during)
    await asyncio.to_thread(server.start)


def _faults(logs: LogCapture) -> list[str]:
    """The gateway's fault records, with their tracebacks: why a request was answered 503."""
    return [line for line in logs.lines if "guardgate fault" in line][:3]


def _assert_no_raw_keys(server: RedisServer, logs: LogCapture) -> int:
    client = redis.Redis(port=server.port)
    keys = list(client.scan_iter(count=1000))
    for key in keys:
        kind = client.type(key)
        values: list[bytes] = [key]
        if kind == b"string":
            values.append(client.get(key) or b"")
        elif kind == b"hash":
            values += [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == b"zset":
            values += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"set":
            values += list(client.smembers(key))
        elif kind == b"list":
            values += client.lrange(key, 0, -1)
        for value in values:
            assert b"sk-outage" not in value and b"SECRETKEYMATERIAL" not in value, key
    client.close()
    for line in logs.lines:
        assert "sk-outage" not in line and "SECRETKEYMATERIAL" not in line, line
    return len(keys)


async def test_fail_open_serves_everyone_through_a_redis_restart(
    mock: ServerThread, logs: LogCapture
) -> None:
    with (
        running_redis() as server,
        observed_sidecar(
            mock.url,
            redis_url=server.url,
            account_rpm=100_000,
            account_concurrency=50,
            metrics_token="outage-metrics",
        ) as gate,
    ):
        statuses: Counter[int] = Counter()
        during: Counter[int] = Counter()
        await asyncio.gather(
            _load(gate.url, 5.0, statuses), _outage(gate.url, server, 1.5, 1.5, during)
        )
        assert set(statuses) == {200}, statuses
        # Requests sent while Redis was down were answered, every one with 200 (a count of
        # requests in 5 s said how loaded the machine was, not whether they were).
        assert set(during) == {200}, during
        # The outage was noticed, counted and logged (once per kind, not per request) ...
        scraper = {"authorization": "Bearer outage-metrics"}
        metrics = (
            await asyncio.to_thread(httpx.get, gate.url + "/_guardgate/metrics", headers=scraper)
        ).text
        counted = [line for line in metrics.splitlines() if line.startswith("guardgate_faults")]
        assert counted and sum(float(line.split()[-1]) for line in counted) > 0
        errors = [line for line in logs.lines if "guardgate fault" in line]
        assert errors and len(errors) < 20
        # ... and after the restart state is written to Redis again, with no raw key in it.
        await asyncio.to_thread(
            httpx.post,
            gate.url + "/v1/chat/completions",
            json=CHAT,
            headers={"authorization": f"Bearer {KEYS[0]}"},
        )
        assert _assert_no_raw_keys(server, logs) > 0


async def test_fail_closed_answers_503_only_during_the_outage(
    mock: ServerThread, logs: LogCapture
) -> None:
    with (
        running_redis() as server,
        # A slow call fails closed too (GUARDGATE_REDIS_TIMEOUT): on a loaded 2-core CI machine
        # a call took longer than the default quarter second before the outage and answered 503.
        # This test is about the outage, where calls fail at once (connection refused).
        observed_sidecar(
            mock.url,
            redis_url=server.url,
            account_rpm=100_000,
            fail_mode="closed",
            redis_timeout=5.0,
        ) as gate,
    ):
        before: Counter[int] = Counter()
        await _load(gate.url, 0.8, before)
        assert set(before) == {200}, (before, _faults(logs))
        during: Counter[int] = Counter()
        await asyncio.to_thread(server.stop)
        await _load(gate.url, 0.8, during)
        assert set(during) <= {200, 503} and during[503] > 0, during
        await asyncio.to_thread(server.start)
        after: Counter[int] = Counter()
        await asyncio.sleep(0.5)
        await _load(gate.url, 1.5, after)
        # Recovered by itself: the tail of the run is all 200 again.
        assert after[200] > 0
        tail: Counter[int] = Counter()
        await _load(gate.url, 0.5, tail)
        assert set(tail) == {200}, (tail, _faults(logs))
        _assert_no_raw_keys(server, logs)
