"""Liveness and readiness through a real sidecar (and readiness under the middleware in an app):
readiness tells the truth about Redis and the upstream, liveness only that the process answers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis as sync_redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tests.gateway import running_mock, settings_for

from guardgate import GuardgateMiddleware
from guardgate.health import Readiness
from guardgate.sidecar import create_app
from guardgate.testing import ServerThread, free_port
from guardgate.testing.redis_server import running_redis


def test_ready_names_the_part_that_fails_and_health_stays_ok() -> None:
    with running_redis() as redis, running_mock() as mock:
        app = create_app(settings_for(mock.url, redis_url=redis.url))
        app.readiness = Readiness(app.settings, redis=app.deployment.redis, ttl=0.0)
        with ServerThread(app) as sidecar:
            ready = httpx.get(sidecar.url + "/_guardgate/ready")
            assert ready.status_code == 200
            assert ready.json() == {
                "status": "ready",
                "checks": {"redis": "ok", "upstream": "ok"},
            }
            redis.stop()
            ready = httpx.get(sidecar.url + "/_guardgate/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"] == {"redis": "connection refused", "upstream": "ok"}
            assert httpx.get(sidecar.url + "/_guardgate/health").status_code == 200
            redis.start()
            assert httpx.get(sidecar.url + "/_guardgate/ready").status_code == 200


def test_ready_is_503_when_the_upstream_is_down() -> None:
    app = create_app(settings_for(f"http://127.0.0.1:{free_port()}"))
    with ServerThread(app) as sidecar:
        ready = httpx.get(sidecar.url + "/_guardgate/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "not ready",
            "checks": {"upstream": "connection refused"},
        }
        assert httpx.get(sidecar.url + "/_guardgate/health").json() == {"status": "ok"}


def test_readiness_is_cached_for_its_ttl() -> None:
    now = [0.0]
    port = free_port()
    readiness = Readiness(settings_for(f"http://127.0.0.1:{port}"), ttl=2.0, clock=lambda: now[0])

    async def scenario() -> list[bool]:
        seen = [(await readiness.check()).ready]
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        async with server:
            now[0] = 1.0
            seen.append((await readiness.check()).ready)  # cached: still the old answer
            now[0] = 2.5
            seen.append((await readiness.check()).ready)
        return seen

    assert asyncio.run(scenario()) == [False, False, True]


def test_ready_under_the_middleware_tells_the_truth_about_redis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    with running_redis() as redis:
        monkeypatch.setenv("GUARDGATE_REDIS_URL", redis.url)
        app = Starlette(routes=[Route("/hello", hello)])
        app.add_middleware(GuardgateMiddleware)
        with ServerThread(app) as server:
            ready = httpx.get(server.url + "/_guardgate/ready")
            assert (ready.status_code, ready.json()) == (
                200,
                {"status": "ready", "checks": {"redis": "ok"}},
            )
            redis.stop()
            time.sleep(2.1)  # past the 2 s the answer is cached
            ready = httpx.get(server.url + "/_guardgate/ready")
            assert ready.status_code == 503
            assert ready.json() == {
                "status": "not ready",
                "checks": {"redis": "connection refused"},
            }
            assert httpx.get(server.url + "/hello").text == "hello"  # the app's own routes


def test_ready_pings_through_the_deployments_connection_pool() -> None:
    # Every connection the deployment's pool opens carries a name: a client of readiness's own
    # (built from the URL) would show up unnamed in CLIENT LIST.
    with running_redis() as redis, running_mock() as mock:
        app = create_app(settings_for(mock.url, redis_url=redis.url))
        app.deployment.redis.connection_pool.connection_kwargs["client_name"] = "deployment"
        with ServerThread(app) as sidecar:
            assert httpx.get(sidecar.url + "/_guardgate/ready").status_code == 200
            with sync_redis.Redis.from_url(redis.url) as probe:
                probe.client_setname("probe")
                names = {str(c["name"]) for c in probe.client_list()}
        assert names == {"deployment", "probe"}
