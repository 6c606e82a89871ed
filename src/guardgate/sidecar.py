"""The sidecar: a Starlette app with the middleware in front of the upstream reverse proxy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from guardgate.guard import Guard
from guardgate.middleware import GuardgateMiddleware
from guardgate.proxy import UpstreamProxy
from guardgate.settings import GuardgateSettings, load_settings

HEALTH_PATH = "/_guardgate/health"


def create_app(settings: GuardgateSettings | None = None) -> Starlette:
    """Build the sidecar app; settings default to the environment."""
    settings = settings if settings is not None else load_settings()
    guard = Guard(settings)
    proxy = UpstreamProxy(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await proxy.start()
        await guard.start()
        try:
            yield
        finally:
            await guard.close()
            await proxy.close()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[Route(HEALTH_PATH, health, methods=["GET"]), Mount("/", app=proxy)],
        middleware=[Middleware(GuardgateMiddleware, guard=guard)],
        lifespan=lifespan,
    )
    app.state.guard = guard
    app.state.proxy = proxy
    return app
