"""`GuardgateMiddleware`: the pure-ASGI door in front of an LLM API.

For POST requests to the LLM endpoints it reads the body once, takes it through the deployment's
`Gate`, enforces the decision before the app is called (a rejected request never costs an
upstream call), replays the (possibly rewritten) body to the app and transforms the response on
its way out. Anthropic's token counting (`POST /v1/messages/count_tokens`) is not judged, but
the sealed thinking blocks in it are restored. The admin API, the metrics and readiness
(`GET /_guardgate/ready`) are served under their own paths; every other request, and every
non-HTTP scope, passes straight through.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guardgate.admin.app import AdminApp
from guardgate.audit_log import configure_audit_log
from guardgate.deployment import Deployment
from guardgate.exchange import Doorway, Exchange
from guardgate.health import Readiness
from guardgate.metrics_endpoint import MetricsEndpoint
from guardgate.model import ApiKind
from guardgate.protocols.dialects import dialect_for
from guardgate.protocols.endpoints import api_for_error
from guardgate.protocols.errors import send_error
from guardgate.protocols.routes import RouteTable
from guardgate.settings import GuardgateSettings, load_settings

__all__ = ["READY_PATH", "GuardgateMiddleware"]

_MESSAGES = ApiKind.ANTHROPIC_MESSAGES
_MESSAGES_PATH = dialect_for(_MESSAGES).path
READY_PATH = "/_guardgate/ready"
"""Readiness for a load balancer or Kubernetes: 200 when what guardgate needs answers (Redis,
when set; the sidecar's upstream too), else 503 naming the part that does not."""


class GuardgateMiddleware:
    """Pure ASGI middleware; `GuardgateMiddleware(app)` reads its settings from the environment.

    It holds one `Deployment` (built from `settings`, or given: the sidecar shares its own) and
    starts it at the app's lifespan startup, or at the first guarded request without one.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: GuardgateSettings | None = None,
        *,
        deployment: Deployment | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.app = app
        if deployment is None:
            deployment = Deployment.from_settings(
                settings if settings is not None else load_settings()
            )
        self.deployment = deployment
        self.settings = deployment.settings
        configure_audit_log(self.settings.audit_log)
        self._prefix = self.settings.path_prefix
        self._metrics_path = self.settings.metrics_path
        self.metrics_endpoint = MetricsEndpoint(deployment.metrics, self.settings)
        self.admin = AdminApp(deployment)
        # Under an app, the app is the upstream (its own health is its business): Redis only.
        self.readiness = (
            readiness
            if readiness is not None
            else Readiness(self.settings, redis=deployment.redis, check_upstream=False)
        )
        # Every way to the model (endpoints, aliases, read-backs) is judged: protocols/routes.py.
        self.routes = RouteTable(self._prefix, self.settings.passthrough_paths)
        self.door = Doorway(app, deployment, self.routes.aliases)
        # Anthropic's token counting is not judged, but checks thinking signatures: the
        # sealed blocks a client sends back there are restored too.
        self._token_counts = frozenset(
            f"{self._prefix}{_MESSAGES_PATH}/count_tokens{tail}" for tail in ("", "/")
        )
        # The LLM endpoints' paths (none under the admin prefix, which keeps its own).
        self._apis = {
            path: api for path, api in self.routes.posts.items() if not self.admin.handles(path)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if scope["method"] == "POST":
                api = self._apis.get(path)
                if api is not None:
                    if not self.deployment.started:
                        await self.deployment.start()
                    await Exchange(self.door, api, scope, receive, send).run()
                    return
                if path in self._token_counts:
                    await Exchange(self.door, _MESSAGES, scope, receive, send).restore_and_forward()
                    return
            elif (readback := self.routes.readback(scope["method"], path)) is not None:
                if not self.deployment.started:
                    await self.deployment.start()
                await Exchange(self.door, readback, scope, receive, send).run()
                return
            if path in self.routes.denied and not self.routes.passthrough(path):
                await _not_judged(send, path)  # any method: SGLang's /generate takes PUT too
                return
            if self.admin.handles(path):
                await self.admin(scope, receive, send)
                return
            if path == self._metrics_path and self._metrics_path and scope["method"] != "POST":
                await self.metrics_endpoint(scope, receive, send)  # behind a token
                return
            if path == READY_PATH and scope["method"] == "GET":
                report = await self.readiness.check()
                answer = JSONResponse(report.body(), status_code=report.status_code)
                await answer(scope, receive, send)
                return
        elif scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        deployment = self.deployment

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await deployment.start()
            elif message["type"] == "lifespan.shutdown":
                await deployment.close()
            return message

        return wrapped


async def _not_judged(send: Send, path: str) -> None:
    """A 404 in the provider's format for a route guardgate cannot judge."""
    await send_error(
        send, api_for_error(path), 404, f"Unknown request URL: {path}. Check the path and method."
    )
