"""The sidecar: a Starlette app with the middleware in front of the upstream reverse proxy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from guardgate.access_log import AccessLog
from guardgate.deployment import Clock, Deployment
from guardgate.health import Readiness
from guardgate.middleware import READY_PATH, GuardgateMiddleware
from guardgate.proxy import UpstreamProxy
from guardgate.settings import GuardgateSettings, load_settings

OWN_PREFIX = "/_guardgate/"
HEALTH_PATH = OWN_PREFIX + "health"
__all__ = ["HEALTH_PATH", "READY_PATH", "Sidecar", "create_app"]


class Sidecar(Starlette):
    """A Starlette app whose own routes live under `/_guardgate/`; every other request goes
    through the middleware straight to the proxy.

    The proxied path skips Starlette's router and exception middlewares: they cost about a fifth
    of the sidecar's throughput, and the proxy answers its own errors in the provider's format.
    """

    def __init__(self, settings: GuardgateSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.deployment = Deployment.from_settings(settings, clock)
        self.proxy = UpstreamProxy(settings)
        self.readiness = Readiness(settings, redis=self.deployment.redis)
        super().__init__(
            routes=[
                Route(HEALTH_PATH, self._health, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.proxy.start()
        await self.deployment.start()
        try:
            yield
        finally:
            await self.deployment.close()
            await self.proxy.close()

    async def _health(self, request: Request) -> Response:
        """Liveness: the process answers (use `/_guardgate/ready` to route traffic)."""
        return JSONResponse({"status": "ok"})

    def build_middleware_stack(self) -> ASGIApp:
        own = super().build_middleware_stack()
        proxy = self.proxy

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and not scope["path"].startswith(OWN_PREFIX):
                await proxy(scope, receive, send)
            else:
                await own(scope, receive, send)

        # The middleware answers readiness (`READY_PATH`), with the upstream checked too here.
        guarded = GuardgateMiddleware(
            dispatch, deployment=self.deployment, readiness=self.readiness
        )
        return AccessLog(guarded) if self.settings.access_log else guarded


def create_app(settings: GuardgateSettings | None = None, clock: Clock | None = None) -> Sidecar:
    """Build the sidecar app; settings default to the environment, the clock (the request time
    every decision reads, unix seconds) to `time.time`."""
    return Sidecar(settings if settings is not None else load_settings(), clock=clock)
